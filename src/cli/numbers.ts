// Numeric command-line options, checked when parsed: `--forks 0.5` is a usage error naming the
// option and what it takes, not a failure deep inside a run.
import { InvalidArgumentError } from 'commander';

/** A parser for a whole number from min to max (commander names the option and the value). */
export const wholeNumber = (min: number, max: number) => (value: string): number => {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
  }
  return n;
};

/** A parser for a number of seconds above 0 (fractions allowed). */
export const seconds = (max: number) => (value: string): number => {
  const n = Number(value);
  if (!/^\s*\d*\.?\d+\s*$/.test(value) || !(n > 0) || n > max) throw new InvalidArgumentError(`expected a number of seconds above 0, at most ${max}.`);
  return n;
};
