#include "stages/data/synth_celeba.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pipeline/rng.h"
#include "stages/data/celeba_index.h"

namespace sluice::data {
namespace fs = std::filesystem;
namespace {

// Attribute positions in celeba_attribute_names() order.
enum Attr {
  kFiveOClockShadow,
  kArchedEyebrows,
  kAttractive,
  kBagsUnderEyes,
  kBald,
  kBangs,
  kBigLips,
  kBigNose,
  kBlackHair,
  kBlondHair,
  kBlurry,
  kBrownHair,
  kBushyEyebrows,
  kChubby,
  kDoubleChin,
  kEyeglasses,
  kGoatee,
  kGrayHair,
  kHeavyMakeup,
  kHighCheekbones,
  kMale,
  kMouthSlightlyOpen,
  kMustache,
  kNarrowEyes,
  kNoBeard,
  kOvalFace,
  kPaleSkin,
  kPointyNose,
  kRecedingHairline,
  kRosyCheeks,
  kSideburns,
  kSmiling,
  kStraightHair,
  kWavyHair,
  kWearingEarrings,
  kWearingHat,
  kWearingLipstick,
  kWearingNecklace,
  kWearingNecktie,
  kYoung
};

class Draw {
 public:
  Draw(uint64_t seed, int64_t index) : rng_(seed, static_cast<uint64_t>(index), 0xFACE) {}
  double u(double lo = 0.0, double hi = 1.0) { return rng_.uniform(lo, hi); }
  bool p(double prob) { return rng_.uniform() < prob; }
  double normal(double mean, double sd) {
    const double a = std::max(rng_.uniform(), 1e-12), b = rng_.uniform();
    return mean + sd * std::sqrt(-2.0 * std::log(a)) * std::cos(2.0 * M_PI * b);
  }
  cv::Scalar color(double r, double g, double b) { return cv::Scalar(b, g, r); }
  cv::Scalar random_color(double lo = 20, double hi = 235) {
    return cv::Scalar(u(lo, hi), u(lo, hi), u(lo, hi));
  }
  cv::Scalar jitter(const cv::Scalar& c, double amount) {
    return cv::Scalar(std::clamp(c[0] + normal(0, amount), 0.0, 255.0),
                      std::clamp(c[1] + normal(0, amount), 0.0, 255.0),
                      std::clamp(c[2] + normal(0, amount), 0.0, 255.0));
  }

 private:
  CounterRng rng_;
};

cv::Scalar scale(const cv::Scalar& c, double f) {
  return cv::Scalar(std::min(255.0, c[0] * f), std::min(255.0, c[1] * f),
                    std::min(255.0, c[2] * f));
}

cv::Point pt(double x, double y) {
  return cv::Point(static_cast<int>(std::lround(x)), static_cast<int>(std::lround(y)));
}

void ellipse(cv::Mat& m, double cx, double cy, double ax, double ay, double angle,
             const cv::Scalar& c, int thickness = cv::FILLED, double a0 = 0, double a1 = 360) {
  cv::ellipse(m, pt(cx, cy),
              cv::Size(std::max(1, static_cast<int>(ax)), std::max(1, static_cast<int>(ay))), angle,
              a0, a1, c, thickness, cv::LINE_AA);
}

void draw_background(cv::Mat& img, Draw& d) {
  const cv::Scalar top = d.random_color(), bottom = d.random_color();
  for (int y = 0; y < img.rows; ++y) {
    const double t = static_cast<double>(y) / (img.rows - 1);
    img.row(y).setTo(top * (1 - t) + bottom * t);
  }
  const int shapes = static_cast<int>(d.u(2, 9));
  for (int i = 0; i < shapes; ++i) {
    const cv::Scalar c = d.random_color();
    if (d.p(0.5)) {
      cv::rectangle(img, pt(d.u(-40, 178), d.u(-40, 218)), pt(d.u(0, 218), d.u(0, 258)), c,
                    cv::FILLED, cv::LINE_AA);
    } else {
      cv::circle(img, pt(d.u(0, 178), d.u(0, 218)), static_cast<int>(d.u(8, 60)), c, cv::FILLED,
                 cv::LINE_AA);
    }
  }
}

// The hair_colour value of a hair attribute; empty for none (red hair).
std::string hair_colour_name(int hair_attr) {
  switch (hair_attr) {
    case kBlackHair:
      return "black";
    case kBrownHair:
      return "brown";
    case kBlondHair:
      return "blond";
    case kGrayHair:
      return "gray";
    default:
      return {};
  }
}

}  // namespace

const std::vector<std::string>& synthetic_hair_colours() {
  static const std::vector<std::string> kColours = {"black", "brown", "blond", "gray"};
  return kColours;
}

SynthFace draw_synthetic_face(uint64_t seed, int64_t index) {
  Draw d(seed, index);
  SynthFace face;
  auto& a = face.attrs;
  a.fill(-1);
  auto set = [&a](int k, bool v) { a[k] = v ? 1 : -1; };

  const bool male = d.p(0.42);
  const bool young = d.p(male ? 0.68 : 0.85);
  set(kMale, male);
  set(kYoung, young);

  cv::Mat img(kCelebaHeight, kCelebaWidth, CV_8UC3);
  draw_background(img, d);

  // Pose and proportions.
  const double cx = d.normal(89, 5), cy = d.normal(122, 5);
  const double size = d.u(0.88, 1.1);
  const bool chubby = d.p(male ? 0.1 : 0.04);
  const double fw = size * (chubby ? 44 : d.normal(male ? 39 : 36, 2.2));
  const double fh = size * d.normal(male ? 52 : 50, 2.5);
  // Jaw width at the chin: the strongest (but overlapping) cue for Male.
  const double jaw = std::clamp(d.normal(male ? 0.8 : 0.45, 0.07), 0.25, 0.98);
  set(kChubby, chubby);
  set(kDoubleChin, chubby && d.p(0.6));
  set(kOvalFace, !chubby && jaw < 0.55 && d.p(0.6));

  // Skin.
  const double tone = d.u();
  const bool pale = tone < 0.1;
  cv::Scalar skin = d.color(235 - 150 * tone, 205 - 150 * tone, 180 - 140 * tone);
  skin = d.jitter(skin, 8);
  set(kPaleSkin, pale);

  // Hair colour and style.
  const double hc = d.u();
  cv::Scalar hair;
  int hair_attr = -1;
  const bool gray = !young && d.p(0.35);
  if (gray) {
    hair = d.color(175, 175, 178);
    hair_attr = kGrayHair;
  } else if (hc < 0.35) {
    hair = d.color(25, 20, 20);
    hair_attr = kBlackHair;
  } else if (hc < 0.7) {
    hair = d.color(110, 70, 40);
    hair_attr = kBrownHair;
  } else if (hc < 0.88) {
    hair = d.color(225, 195, 120);
    hair_attr = kBlondHair;
  } else {
    hair = d.color(140, 60, 30);
  }
  hair = d.jitter(hair, 10);
  if (hair_attr >= 0) set(hair_attr, true);
  const bool bald = male && !young && d.p(0.25);
  if (!bald) face.hair_colour = hair_colour_name(hair_attr);
  const bool long_hair = !bald && d.p(male ? 0.12 : 0.85);
  const bool hat = d.p(0.05);
  const bool wavy = d.p(0.35);
  set(kBald, bald);
  set(kRecedingHairline, !bald && d.p(male && !young ? 0.4 : 0.05));
  set(kWavyHair, !bald && wavy);
  set(kStraightHair, !bald && !wavy && d.p(0.5));
  set(kWearingHat, hat);

  // Clothes and neck.
  const cv::Scalar cloth = d.random_color();
  ellipse(img, cx + d.normal(0, 4), cy + fh + 62, 80 * size, 45, 0, cloth);
  cv::rectangle(img, pt(cx - fw * 0.45, cy + fh * 0.5), pt(cx + fw * 0.45, cy + fh + 30),
                scale(skin, 0.85), cv::FILLED, cv::LINE_AA);
  const bool necktie = male && d.p(0.15);
  const bool necklace = !male && d.p(0.2);
  set(kWearingNecktie, necktie);
  set(kWearingNecklace, necklace);
  if (necktie) {
    std::vector<cv::Point> tie = {pt(cx - 6, cy + fh + 22), pt(cx + 6, cy + fh + 22),
                                  pt(cx + 9, 218), pt(cx - 9, 218)};
    cv::fillConvexPoly(img, tie, d.random_color(), cv::LINE_AA);
  }
  if (necklace)
    ellipse(img, cx, cy + fh + 8, fw * 0.55, 14, 0, d.random_color(150, 255), 2, 0, 180);

  // Long hair falls behind the face.
  if (long_hair) {
    const double len = d.u(1.0, 1.5) * fh;
    ellipse(img, cx, cy + len * 0.35, fw * d.u(1.25, 1.45), len, 0, hair);
  }

  // Face: upper ellipse plus a jaw polygon whose chin width is `jaw`.
  ellipse(img, cx, cy, fw, fh * 0.85, 0, skin);
  std::vector<cv::Point> chin = {pt(cx - fw, cy - 2), pt(cx - fw * jaw, cy + fh * 0.98),
                                 pt(cx + fw * jaw, cy + fh * 0.98), pt(cx + fw, cy - 2)};
  cv::fillConvexPoly(img, chin, skin, cv::LINE_AA);
  ellipse(img, cx, cy + fh * 0.9, fw * jaw + 3, 8, 0, skin);
  if (a[kDoubleChin] > 0)
    ellipse(img, cx, cy + fh * 1.02, fw * 0.45, 6, 0, scale(skin, 0.9), 2, 0, 180);
  // Ears.
  ellipse(img, cx - fw, cy, 6, 11, 0, scale(skin, 0.92));
  ellipse(img, cx + fw, cy, 6, 11, 0, scale(skin, 0.92));
  const bool earrings = !male && d.p(0.3);
  set(kWearingEarrings, earrings);
  if (earrings) {
    const cv::Scalar c = d.random_color(150, 255);
    cv::circle(img, pt(cx - fw, cy + 13), 3, c, cv::FILLED, cv::LINE_AA);
    cv::circle(img, pt(cx + fw, cy + 13), 3, c, cv::FILLED, cv::LINE_AA);
  }

  // Short hair cap, sideburns, bangs.
  if (!bald) {
    const double top = a[kRecedingHairline] > 0 ? 0.55 : 0.75;
    ellipse(img, cx, cy - fh * 0.35, fw * 1.07, fh * 0.62, 0, hair, cv::FILLED, 180, 360);
    ellipse(img, cx, cy - fh * 0.36, fw * 0.92, fh * (0.62 - top * 0.4), 0, skin, cv::FILLED, 0,
            180);
    const bool sideburns = male && d.p(0.25);
    set(kSideburns, sideburns);
    if (sideburns) {
      cv::rectangle(img, pt(cx - fw * 1.0, cy - 10), pt(cx - fw * 0.86, cy + 16), hair, cv::FILLED);
      cv::rectangle(img, pt(cx + fw * 0.86, cy - 10), pt(cx + fw * 1.0, cy + 16), hair, cv::FILLED);
    }
    const bool bangs = d.p(male ? 0.08 : 0.25);
    set(kBangs, bangs);
    if (bangs) ellipse(img, cx, cy - fh * 0.55, fw * 0.9, fh * 0.25, 0, hair);
    if (long_hair) {
      cv::rectangle(img, pt(cx - fw * 1.25, cy - 10), pt(cx - fw * 0.95, cy + fh * 0.8), hair,
                    cv::FILLED);
      cv::rectangle(img, pt(cx + fw * 0.95, cy - 10), pt(cx + fw * 1.25, cy + fh * 0.8), hair,
                    cv::FILLED);
    }
  }
  if (hat) {
    const cv::Scalar c = d.random_color();
    cv::rectangle(img, pt(cx - fw * 0.9, cy - fh * 1.35), pt(cx + fw * 0.9, cy - fh * 0.6), c,
                  cv::FILLED);
    ellipse(img, cx, cy - fh * 0.62, fw * 1.4, 7, 0, c);
  }

  // Eyes, brows, bags.
  const double eye_y = cy - fh * 0.12, eye_dx = fw * 0.42;
  const bool narrow = d.p(0.12);
  set(kNarrowEyes, narrow);
  const cv::Scalar iris = d.color(d.u(30, 120), d.u(30, 110), d.u(20, 100));
  for (int side : {-1, 1}) {
    const double ex = cx + side * eye_dx;
    ellipse(img, ex, eye_y, 8, narrow ? 2.5 : 4.5, 0, d.color(245, 245, 245));
    cv::circle(img, pt(ex, eye_y), narrow ? 2 : 3, iris, cv::FILLED, cv::LINE_AA);
  }
  const bool makeup = !male && d.p(0.45);
  set(kHeavyMakeup, makeup);
  if (makeup) {
    for (int side : {-1, 1}) {
      ellipse(img, cx + side * eye_dx, eye_y - 2, 9, 4, 0, d.color(90, 60, 110), 1, 180, 360);
    }
  }
  const bool bags = d.p(young ? 0.1 : 0.4);
  set(kBagsUnderEyes, bags);
  if (bags) {
    for (int side : {-1, 1})
      ellipse(img, cx + side * eye_dx, eye_y + 6, 7, 3, 0, scale(skin, 0.8), 1, 0, 180);
  }
  const bool bushy = d.p(male ? 0.35 : 0.06);
  const bool arched = !bushy && d.p(male ? 0.1 : 0.5);
  set(kBushyEyebrows, bushy);
  set(kArchedEyebrows, arched);
  const int brow = bushy ? 4 : (male ? static_cast<int>(d.u(2, 4)) : static_cast<int>(d.u(1, 3)));
  const cv::Scalar brow_color = scale(hair, gray ? 0.8 : 0.7);
  for (int side : {-1, 1}) {
    ellipse(img, cx + side * eye_dx, eye_y - 6, 10, arched ? 5 : 2, 0, brow_color, brow, 190, 350);
  }

  // Glasses.
  const bool glasses = d.p(0.07);
  set(kEyeglasses, glasses);
  if (glasses) {
    const cv::Scalar frame = d.random_color(0, 120);
    for (int side : {-1, 1}) {
      cv::rectangle(img, pt(cx + side * eye_dx - 11, eye_y - 7),
                    pt(cx + side * eye_dx + 11, eye_y + 7), frame, 2, cv::LINE_AA);
    }
    cv::line(img, pt(cx - eye_dx + 11, eye_y), pt(cx + eye_dx - 11, eye_y), frame, 2, cv::LINE_AA);
  }

  // Nose.
  const bool big_nose = d.p(male ? 0.35 : 0.1);
  const bool pointy = !big_nose && d.p(0.3);
  set(kBigNose, big_nose);
  set(kPointyNose, pointy);
  const double nose_w = big_nose ? 9 : (pointy ? 4 : 6);
  std::vector<cv::Point> nose = {pt(cx, eye_y + 4), pt(cx - nose_w, cy + fh * 0.28),
                                 pt(cx + nose_w, cy + fh * 0.28)};
  cv::polylines(img, nose, false, scale(skin, 0.75), 1, cv::LINE_AA);

  // Cheeks.
  const bool rosy = d.p(male ? 0.02 : 0.12);
  const bool cheekbones = d.p(male ? 0.3 : 0.55);
  set(kRosyCheeks, rosy);
  set(kHighCheekbones, cheekbones);
  if (rosy) {
    for (int side : {-1, 1})
      ellipse(img, cx + side * fw * 0.55, cy + fh * 0.2, 8, 5, 0, d.color(235, 130, 140));
  }

  // Beard, mustache, stubble (before the mouth so lips stay visible).
  const double mouth_y = cy + fh * 0.55;
  const bool beard = male && d.p(0.55);
  const bool goatee = male && !beard && d.p(0.15);
  const bool mustache = male && (beard ? d.p(0.7) : d.p(0.1));
  const bool stubble = male && !beard && d.p(0.3);
  set(kGoatee, goatee);
  set(kMustache, mustache);
  set(kNoBeard, !beard && !goatee);
  set(kFiveOClockShadow, stubble);
  const cv::Scalar beard_color = scale(hair, 0.85);
  if (beard) {
    std::vector<cv::Point> b = {pt(cx - fw * 0.98, cy + 4),
                                pt(cx - fw * jaw - 2, cy + fh * 1.02),
                                pt(cx + fw * jaw + 2, cy + fh * 1.02),
                                pt(cx + fw * 0.98, cy + 4),
                                pt(cx + fw * 0.55, mouth_y - 6),
                                pt(cx - fw * 0.55, mouth_y - 6)};
    cv::fillPoly(img, std::vector<std::vector<cv::Point>>{b}, beard_color, cv::LINE_AA);
  }
  if (goatee) ellipse(img, cx, cy + fh * 0.85, 9, 11, 0, beard_color);
  if (stubble) {
    for (int i = 0; i < 160; ++i) {
      const double px = cx + d.u(-fw * 0.8, fw * 0.8), py = d.u(cy + fh * 0.3, cy + fh * 0.95);
      cv::circle(img, pt(px, py), 0, scale(beard_color, 0.9), 1);
    }
  }
  if (mustache) ellipse(img, cx, mouth_y - 6, 13, 4, 0, beard_color);

  // Mouth.
  const bool smiling = d.p(0.48);
  const bool open = d.p(smiling ? 0.7 : 0.2);
  const bool big_lips = d.p(male ? 0.15 : 0.3);
  const bool lipstick = !male && d.p(makeup ? 0.9 : 0.25);
  set(kSmiling, smiling);
  set(kMouthSlightlyOpen, open);
  set(kBigLips, big_lips);
  set(kWearingLipstick, lipstick);
  const cv::Scalar lip = lipstick ? d.color(d.u(160, 220), 30, d.u(40, 90)) : scale(skin, 0.7);
  const double mw = d.u(11, 15);
  if (open) ellipse(img, cx, mouth_y, mw - 2, smiling ? 5 : 3, 0, d.color(60, 20, 25));
  ellipse(img, cx, mouth_y - (smiling ? 3 : 0), mw, smiling ? 6 : 1.5, 0, lip, big_lips ? 4 : 2,
          smiling ? 0 : 180, smiling ? 180 : 360);
  if (!smiling) ellipse(img, cx, mouth_y + 1, mw * 0.8, 2.5, 0, lip, big_lips ? 3 : 1, 0, 180);

  // Whole-image variation: roll, shift, lighting, blur, noise.
  const double angle = d.normal(0, 5);
  cv::Mat rot = cv::getRotationMatrix2D(cv::Point2f(89, 120), angle, 1.0);
  rot.at<double>(0, 2) += d.normal(0, 3);
  rot.at<double>(1, 2) += d.normal(0, 3);
  cv::Mat posed;
  cv::warpAffine(img, posed, rot, img.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
  const double gain = d.u(0.75, 1.2), bias = d.normal(0, 10);
  posed.convertTo(posed, CV_8UC3, gain, bias);
  const bool blurry = d.p(0.05);
  set(kBlurry, blurry);
  if (blurry) cv::GaussianBlur(posed, posed, cv::Size(0, 0), d.u(1.5, 2.5));
  cv::Mat noise(posed.size(), CV_16SC3);
  cv::RNG noise_rng(static_cast<uint64_t>(d.u() * 9007199254740992.0));
  noise_rng.fill(noise, cv::RNG::NORMAL, 0, d.u(3, 9));
  cv::Mat noisy;
  posed.convertTo(noisy, CV_16SC3);
  noisy += noise;
  noisy.convertTo(face.bgr, CV_8UC3);

  set(kAttractive, d.p(young ? (male ? 0.35 : 0.65) : 0.25));
  return face;
}

int synthetic_partition(int64_t index, int64_t count) {
  // CelebA: 162770 / 19867 / 19962 of 202599 images.
  const int64_t train = static_cast<int64_t>(std::llround(count * 0.8034));
  const int64_t validation = static_cast<int64_t>(std::llround(count * 0.0981));
  if (index < train) return 0;
  if (index < train + validation) return 1;
  return 2;
}

void write_synthetic_celeba(const SynthOptions& options,
                            const std::function<void(int64_t, int64_t)>& progress) {
  if (options.count < 0) throw std::invalid_argument("count must not be negative");
  const fs::path root(options.out);
  const fs::path images = root / "img_align_celeba" / "img_align_celeba";
  std::error_code ec;
  fs::create_directories(images, ec);
  if (ec) throw std::runtime_error(images.string() + ": cannot create folder: " + ec.message());

  const int64_t n = options.count;
  std::vector<std::array<int8_t, kCelebaAttributeCount>> attrs(static_cast<size_t>(n));
  std::vector<std::string> hair(static_cast<size_t>(n));
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  std::string failure;
  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, options.jpeg_quality};
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, 64), [&](const tbb::blocked_range<int64_t>& r) {
        std::vector<uchar> encoded;
        for (int64_t i = r.begin(); i != r.end(); ++i) {
          if (failed.load()) return;
          SynthFace face = draw_synthetic_face(options.seed, i);
          attrs[static_cast<size_t>(i)] = face.attrs;
          hair[static_cast<size_t>(i)] = face.hair_colour;
          char name[32];
          std::snprintf(name, sizeof name, "%06lld.jpg", static_cast<long long>(i + 1));
          const fs::path path = images / name;
          cv::imencode(".jpg", face.bgr, encoded, params);
          std::ofstream f(path, std::ios::binary);
          f.write(reinterpret_cast<const char*>(encoded.data()),
                  static_cast<std::streamsize>(encoded.size()));
          if (!f) {
            if (!failed.exchange(true)) failure = path.string() + ": cannot write";
            return;
          }
        }
        done.fetch_add(static_cast<int64_t>(r.size()));
      });
  if (failed) throw std::runtime_error(failure);
  if (progress) progress(n, n);

  const auto& names = celeba_attribute_names();
  std::ofstream attr_file(root / "list_attr_celeba.csv", std::ios::binary);
  std::ofstream part_file(root / "list_eval_partition.csv", std::ios::binary);
  std::ofstream hair_file(root / kHairColourFile, std::ios::binary);
  if (!attr_file || !part_file || !hair_file)
    throw std::runtime_error(root.string() + ": cannot write the CSV files");
  attr_file << "image_id";
  for (const auto& name : names) attr_file << ',' << name;
  attr_file << '\n';
  part_file << "image_id,partition\n";
  hair_file << "path,hair_colour,split\n";
  for (int64_t i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%06lld.jpg", static_cast<long long>(i + 1));
    attr_file << name;
    for (int8_t v : attrs[static_cast<size_t>(i)]) attr_file << (v > 0 ? ",1" : ",-1");
    attr_file << '\n';
    const int partition = synthetic_partition(i, n);
    part_file << name << ',' << partition << '\n';
    if (!hair[static_cast<size_t>(i)].empty()) {
      hair_file << "img_align_celeba/img_align_celeba/" << name << ','
                << hair[static_cast<size_t>(i)] << ',' << celeba_split_names()[partition] << '\n';
    }
  }
  if (!attr_file.flush() || !part_file.flush() || !hair_file.flush()) {
    throw std::runtime_error(root.string() + ": cannot write the CSV files");
  }
}

}  // namespace sluice::data
