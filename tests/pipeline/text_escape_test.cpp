#include "pipeline/text_escape.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(Printable, PlainTextAndUtf8PassThrough) {
  EXPECT_EQ(printable("img/000001.jpg"), "img/000001.jpg");
  EXPECT_EQ(printable("caf\xC3\xA9/\xE4\xB8\xAD.jpg"), "caf\xC3\xA9/\xE4\xB8\xAD.jpg");
  EXPECT_EQ(printable("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(printable("a\\b"), "a\\b");
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, ControlCharactersAreEscaped) {
  EXPECT_EQ(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(printable("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(printable(std::string_view("x\0y", 3)), "x\\x00y");
  EXPECT_EQ(printable("\x7f\x01"), "\\x7f\\x01");
  EXPECT_EQ(printable("\xC2\x9B"
                      "31m"),
            "\\xc2\\x9b31m");  // C1 CSI
}

TEST(Printable, InvalidUtf8BytesAreEscaped) {
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("\xC3"), "\\xc3");                    // truncated sequence
  EXPECT_EQ(printable("\xC0\xAF"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(printable("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(printable("\xE4\xB8x"), "\\xe4\\xb8x");
}

}  // namespace
}  // namespace sluice
