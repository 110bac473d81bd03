// Writing images from the CLI (augment, preview) with OpenCV, reported in one
// line naming the file: OpenCV signals an unknown extension with a cv::Exception
// whose text spans several lines and names its own source file.
#pragma once

#include <string>

namespace cv {
class Mat;
}

namespace sluice::cli {

// "" when OpenCV can write an image named `path` (checked by extension, before
// any work starts); else "cannot write PATH: unknown image extension '.x' (use
// .png, .jpg, .bmp)".
std::string check_image_output(const std::string& path);

// Writes `bgr`; "" on success, else "cannot write PATH: why".
std::string write_image(const std::string& path, const cv::Mat& bgr);

// Silences OpenCV's own log lines (they would bypass sluice's logger).
void silence_opencv_logging();

}  // namespace sluice::cli
