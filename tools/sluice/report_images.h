// Images inlined into the report page: downscaled, JPEG-encoded, as base64
// `data:` URIs, so the page needs no file beside it.
#pragma once

#include <string>

#include <opencv2/core.hpp>

#include "vision/payloads.h"

namespace sluice::cli {

// Base64 (RFC 4648, with padding).
std::string base64(const std::string& bytes);

// `bgr` scaled so that its longer side is at most `max_side`, as a JPEG data URI.
std::string jpeg_data_uri(const cv::Mat& bgr, int max_side);
// An image file the same way; empty when it cannot be read.
std::string image_file_data_uri(const std::string& path, int max_side);
// A pipeline Image (RGB or grey, uint8) the same way.
std::string image_data_uri(const Image& image, int max_side);

}  // namespace sluice::cli
