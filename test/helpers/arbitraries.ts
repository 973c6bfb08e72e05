// Generators for the property tests that hold Gatehouse's own parsing to the SDK's.
import fc from 'fast-check';

/**
 * Any JSON value, nested a little: strings, numbers, booleans, null, arrays, and objects whose keys
 * come from `keys` (list the awkward ones: `__proto__`, `constructor`, the protocol's own).
 */
export function jsonValue(keys: readonly string[], opts: { width: number; maxString: number }): fc.Arbitrary<unknown> {
  const key = fc.constantFrom(...keys);
  return fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.string({ maxLength: opts.maxString }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: opts.width }),
      fc.dictionary(key, tie('value'), { maxKeys: opts.width }),
    ),
  })).value;
}
