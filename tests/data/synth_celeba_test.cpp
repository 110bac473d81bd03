#include "stages/data/synth_celeba.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "stages/data/celeba_index.h"
#include "stages/data/jpeg_decoder.h"

namespace sluice::data {
namespace {
namespace fs = std::filesystem;

TEST(SynthCeleba, DeterministicInSeedAndIndex) {
  const SynthFace a = draw_synthetic_face(3, 17);
  const SynthFace b = draw_synthetic_face(3, 17);
  const SynthFace c = draw_synthetic_face(4, 17);
  ASSERT_EQ(a.bgr.rows, kCelebaHeight);
  ASSERT_EQ(a.bgr.cols, kCelebaWidth);
  EXPECT_EQ(cv::norm(a.bgr, b.bgr, cv::NORM_INF), 0.0);
  EXPECT_EQ(a.attrs, b.attrs);
  EXPECT_GT(cv::norm(a.bgr, c.bgr, cv::NORM_L1), 0.0);
}

TEST(SynthCeleba, AttributesArePlausible) {
  int male = 0;
  const int n = 400;
  for (int i = 0; i < n; ++i) {
    const SynthFace f = draw_synthetic_face(1, i);
    const bool is_male = f.attrs[20] > 0;
    male += is_male;
    if (!is_male) {
      EXPECT_LT(f.attrs[16], 0);  // Goatee
      EXPECT_LT(f.attrs[22], 0);  // Mustache
      EXPECT_GT(f.attrs[24], 0);  // No_Beard
    }
    if (f.attrs[16] > 0) {
      EXPECT_LT(f.attrs[24], 0);
    }
  }
  EXPECT_NEAR(male, 0.42 * n, 0.08 * n);
}

TEST(SynthCeleba, PartitionIsCloseToCelebA) {
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 10000; ++i) counts[synthetic_partition(i, 10000)]++;
  EXPECT_NEAR(counts[0], 8034, 2);
  EXPECT_NEAR(counts[1], 981, 2);
  EXPECT_NEAR(counts[2], 985, 2);
}

TEST(SynthCeleba, WritesTheKaggleLayout) {
  const fs::path root =
      fs::temp_directory_path() / ("sluice_synth_test_" + std::to_string(::getpid()));
  write_synthetic_celeba({root.string(), 30, 7, 90});
  std::ifstream attr(root / "list_attr_celeba.csv");
  std::string header;
  std::getline(attr, header);
  EXPECT_EQ(header,
            "image_id,5_o_Clock_Shadow,Arched_Eyebrows,Attractive,Bags_Under_Eyes,Bald,Bangs,"
            "Big_Lips,Big_Nose,Black_Hair,Blond_Hair,Blurry,Brown_Hair,Bushy_Eyebrows,Chubby,"
            "Double_Chin,Eyeglasses,Goatee,Gray_Hair,Heavy_Makeup,High_Cheekbones,Male,"
            "Mouth_Slightly_Open,Mustache,Narrow_Eyes,No_Beard,Oval_Face,Pale_Skin,Pointy_Nose,"
            "Receding_Hairline,Rosy_Cheeks,Sideburns,Smiling,Straight_Hair,Wavy_Hair,"
            "Wearing_Earrings,Wearing_Hat,Wearing_Lipstick,Wearing_Necklace,Wearing_Necktie,Young");
  const DatasetIndex idx = load_celeba_index({root.string(), "Male", {}, {}});
  ASSERT_EQ(idx.samples.size(), 30u);
  EXPECT_EQ(idx.samples[29].split, "test");
  for (const Sample& s : idx.samples) {
    Image img;
    const DecodeResult r = decode_image_file(s.path, {}, heap_buffer, img);
    ASSERT_TRUE(r.ok()) << s.path << ": " << r.message;
    EXPECT_EQ(img.width, kCelebaWidth);
    EXPECT_EQ(img.height, kCelebaHeight);
    EXPECT_EQ(s.label, draw_synthetic_face(7, s.index).attrs[20] > 0 ? 1 : 0);
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace sluice::data
