#include "tools/sluice/report_images.h"

#include <algorithm>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace sluice::cli {

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (two ? static_cast<uint8_t>(bytes[i + 1]) << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string jpeg_data_uri(const cv::Mat& bgr, int max_side) {
  if (bgr.empty()) return {};
  cv::Mat scaled = bgr;
  const int side = std::max(bgr.cols, bgr.rows);
  if (side > max_side) {
    const double f = static_cast<double>(max_side) / side;
    cv::resize(bgr, scaled, cv::Size(), f, f, cv::INTER_AREA);
  }
  std::vector<uchar> jpeg;
  if (!cv::imencode(".jpg", scaled, jpeg, {cv::IMWRITE_JPEG_QUALITY, 85})) return {};
  return "data:image/jpeg;base64," + base64(std::string(jpeg.begin(), jpeg.end()));
}

std::string image_file_data_uri(const std::string& path, int max_side) {
  return jpeg_data_uri(cv::imread(path, cv::IMREAD_COLOR), max_side);
}

std::string image_data_uri(const Image& im, int max_side) {
  if (!im.pixels || (im.channels != 1 && im.channels != 3)) return {};
  cv::Mat src(im.height, im.width, im.channels == 1 ? CV_8UC1 : CV_8UC3, im.pixels.get());
  cv::Mat bgr;
  cv::cvtColor(src, bgr, im.channels == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_RGB2BGR);
  return jpeg_data_uri(bgr, max_side);
}

}  // namespace sluice::cli
