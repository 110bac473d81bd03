#include "tools/sluice/image_output.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>

#include "pipeline/text_escape.h"

namespace sluice::cli {
namespace {

constexpr const char* kSupported = "(use .png, .jpg, .bmp)";

std::string cannot_write(const std::string& path, const std::string& why) {
  return "cannot write " + printable(path) + ": " + why;
}

}  // namespace

std::string check_image_output(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext.empty()) return cannot_write(path, std::string("no image extension ") + kSupported);
  bool ok = false;
  try {
    ok = cv::haveImageWriter(path);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (ok) return {};
  return cannot_write(path, "unknown image extension '" + printable(ext) + "' " + kSupported);
}

std::string write_image(const std::string& path, const cv::Mat& bgr) {
  if (std::string bad = check_image_output(path); !bad.empty()) return bad;
  try {
    errno = 0;
    if (cv::imwrite(path, bgr)) return {};
    const int err = errno;
    return cannot_write(path, err ? std::strerror(err) : "the image writer failed");
  } catch (const cv::Exception& e) {
    std::string why = e.err.empty() ? std::string(e.what()) : e.err;
    why = why.substr(0, why.find('\n'));
    return cannot_write(path, why);
  }
}

void silence_opencv_logging() {
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
}

}  // namespace sluice::cli
