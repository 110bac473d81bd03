#include "stages/data/csv_rows.h"

#include <gtest/gtest.h>

#include "stages/data/celeba_index.h"

namespace sluice::data {
namespace {

std::vector<CsvRecord> all(const std::string& text) {
  CsvRows rows(text, "t.csv");
  std::vector<CsvRecord> out;
  for (CsvRecord r; rows.next(r);) out.push_back(r);
  return out;
}

using Fields = std::vector<std::string>;

TEST(CsvRows, PlainFieldsAreTrimmedAndBlankLinesSkipped) {
  const auto r = all(" a , b\t,c\r\n\r\n  \nd,,e");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].fields, (Fields{"a", "b", "c"}));
  EXPECT_EQ(r[0].line, 1);
  EXPECT_EQ(r[1].fields, (Fields{"d", "", "e"}));
  EXPECT_EQ(r[1].line, 4);
}

TEST(CsvRows, QuotedFieldsFollowRfc4180) {
  const auto r = all("\"a,b\",\"say \"\"hi\"\"\",\" kept \"\n\"multi\r\nline\",x\n\"\",y\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].fields, (Fields{"a,b", "say \"hi\"", " kept "}));
  EXPECT_EQ(r[1].fields, (Fields{"multi\r\nline", "x"}));
  EXPECT_EQ(r[1].line, 2);
  EXPECT_EQ(r[2].fields, (Fields{"", "y"}));
  EXPECT_EQ(r[2].line, 4);
}

TEST(CsvRows, ByteOrderMarkIsDropped) {
  const auto r = all("\xEF\xBB\xBFid,x\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].fields, (Fields{"id", "x"}));
  EXPECT_EQ(strip_bom("\xEF\xBB\xBF"), "");
  EXPECT_EQ(strip_bom("\xEF\xBB"), "\xEF\xBB");
}

TEST(CsvRows, MalformedQuotesNameTheLine) {
  try {
    all("a,b\nc,\"d\n\ne\n");
    FAIL();
  } catch (const IndexError& e) {
    EXPECT_EQ(std::string(e.what()), "t.csv:2: error: quoted field opened here is never closed");
  }
  try {
    all("a\n\"b\"c,d\n");
    FAIL();
  } catch (const IndexError& e) {
    EXPECT_EQ(e.line(), 2);
  }
}

}  // namespace
}  // namespace sluice::data
