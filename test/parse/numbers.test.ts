import assert from 'node:assert/strict'
import {test} from 'node:test'
import {decToI64, decToU64, hexToU64, parseInteger, toSigned64, tsToNs} from '../../src/parse/numbers.js'

const hex = (s: string) => hexToU64(s, 0, s.length)
const dec = (s: string) => decToU64(s, 0, s.length)
const sdec = (s: string) => decToI64(s, 0, s.length)
const ts = (s: string) => tsToNs(s, 0, s.length)

test('hex: number below 2^53, bigint from 2^53, null past 64 bits', () => {
  assert.equal(hex('1fffffffffffff'), 2 ** 53 - 1)
  assert.equal(hex('20000000000000'), 2n ** 53n)
  assert.equal(hex('7f12f7b6a000'), 0x7f12f7b6a000)
  assert.equal(hex('ffffffffffffffff'), 2n ** 64n - 1n)
  assert.equal(hex('ffff888102a40000'), 0xffff888102a40000n)
  assert.equal(hex('10000000000000000'), null)
  assert.equal(hex('0000000000000000000000ff'), 255) // zero padding is not width
  assert.equal(hex('0'), 0)
  assert.equal(hex('AbC'), 0xabc)
  assert.equal(hex(''), null)
  assert.equal(hex('12g'), null)
})

test('decimal: unsigned and signed 64-bit ranges are exact', () => {
  assert.equal(dec('9007199254740991'), 2 ** 53 - 1)
  assert.equal(dec('9007199254740993'), 9007199254740993n)
  assert.equal(dec('18446744073709551615'), 2n ** 64n - 1n)
  assert.equal(dec('18446744073709551616'), null)
  assert.equal(sdec('-512'), -512)
  assert.equal(sdec('-0'), 0)
  assert.equal(sdec('-9223372036854775808'), -(2n ** 63n))
  assert.equal(sdec('-9223372036854775809'), null)
  assert.equal(sdec('9223372036854775808'), null)
  assert.equal(sdec('12a'), null)
})

test('timestamps: µs and ns fractions to exact ns, bigint beyond 2^53', () => {
  assert.equal(ts('2024.398183'), 2024398183000)
  assert.equal(ts('1.123456789'), 1123456789)
  assert.equal(ts('0.000001'), 1000)
  assert.equal(ts('9007198.999999'), 9007198999999000)
  assert.equal(ts('9999999.123456'), 9999999123456000n)
  assert.equal(ts('18446744073.709551615'), 2n ** 64n - 1n)
  assert.equal(ts('18446744073.709551616'), null) // past 64 bits
  assert.equal(ts('1234567890123456789.0'), null)
  assert.equal(ts('42'), 42) // counter clocks print bare integers
  assert.equal(ts('1.1234567891'), null)
  assert.equal(ts('1.'), null)
  assert.equal(ts('.5'), null)
  assert.equal(ts('1.2x'), null)
})

test('toSigned64 reads 64-bit registers as two’s complement; parseInteger takes 0x or decimal', () => {
  assert.equal(toSigned64(hex('fffffffffffffff4')!), -12)
  assert.equal(toSigned64(hex('8000000000000000')!), -(2n ** 63n))
  assert.equal(toSigned64(0x7f12f7b6a000), 0x7f12f7b6a000)
  assert.equal(parseInteger('0x7fffffffffffffff'), 2n ** 63n - 1n)
  assert.equal(parseInteger(' -22 '), -22)
  assert.equal(parseInteger('0x'), null)
  assert.equal(parseInteger('abc'), null)
})
