// ChoiceList: a string parameter's choices and their values declared once.
#include <gtest/gtest.h>

#include "pipeline/choice_list.h"

namespace sluice {
namespace {

enum class Fruit { kApple, kPear };

const ChoiceList<Fruit> kFruits("fruit", {{"apple", Fruit::kApple},
                                          {"pear", Fruit::kPear},
                                          {"poire", Fruit::kPear}});

TEST(ChoiceList, NamesAreTheDeclarationsInOrder) {
  EXPECT_EQ(kFruits.names(), (std::vector<std::string>{"apple", "pear", "poire"}));
}

TEST(ChoiceList, ParsesEveryNameAndAliases) {
  EXPECT_EQ(kFruits.parse("apple"), Fruit::kApple);
  EXPECT_EQ(kFruits.parse("poire"), Fruit::kPear);
  EXPECT_EQ(kFruits.name(Fruit::kPear), "pear");
  EXPECT_TRUE(kFruits.contains("pear"));
  EXPECT_FALSE(kFruits.contains("Pear"));
}

TEST(ChoiceList, AnUnknownNameListsTheChoices) {
  try {
    kFruits.parse("plum");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown fruit 'plum' (expected apple, pear or poire)");
  }
}

}  // namespace
}  // namespace sluice
