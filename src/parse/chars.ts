// The ASCII codes the byte-level parsers compare against, by name (they read lines as bytes: bytes.ts). A const enum:
// tsc writes the number itself at every use, so the hot loops compare against literals as before.
export const enum Ch {
  TAB = 9,
  LF = 10,
  CR = 13,
  SPACE = 32,
  QUOTE = 34, // "
  HASH = 35, // #
  LPAREN = 40, // (
  RPAREN = 41, // )
  COMMA = 44, // ,
  DASH = 45, // -
  DOT = 46, // .
  SLASH = 47, // /
  DIGIT_0 = 48,
  DIGIT_9 = 57,
  COLON = 58, // :
  LT = 60, // <
  GT = 62, // >
  UPPER_A = 65,
  UPPER_F = 70,
  UPPER_Z = 90,
  BACKSLASH = 92,
  RBRACKET = 93, // ]
  UNDERSCORE = 95,
  LOWER_A = 97,
  LOWER_F = 102,
  LOWER_X = 120,
  LOWER_Z = 122,
}
