#include "stages/data/image_encoder.h"

#include <turbojpeg.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "stages/data/turbojpeg_handle.h"

namespace sluice::data {
namespace {

ThreadCompressor& thread_compressor() { return ThreadCompressor::local(); }

int tj_subsampling(JpegSubsampling s, int channels) {
  if (channels == 1) return TJSAMP_GRAY;
  switch (s) {
    case JpegSubsampling::k444:
      return TJSAMP_444;
    case JpegSubsampling::k422:
      return TJSAMP_422;
    case JpegSubsampling::k420:
      break;
  }
  return TJSAMP_420;
}

EncodedImage copy_out(const uint8_t* data, size_t size) {
  std::shared_ptr<uint8_t[]> bytes(new uint8_t[size]);
  std::memcpy(bytes.get(), data, size);
  return EncodedImage{std::move(bytes), size};
}

EncodedImage encode_jpeg(const Image& image, const EncodeOptions& o) {
  ThreadCompressor& c = thread_compressor();
  tjhandle tj = c.get();
  if (!tj) throw std::runtime_error("cannot create a TurboJPEG compressor");
  unsigned char* jpeg = nullptr;  // allocated by TurboJPEG
  unsigned long jpeg_size = 0;
  const int pixel_format = image.channels == 1 ? TJPF_GRAY : TJPF_RGB;
  const int rc = tjCompress2(tj, image.pixels.get(), image.width, image.width * image.channels,
                             image.height, pixel_format, &jpeg, &jpeg_size,
                             tj_subsampling(o.subsampling, image.channels), o.quality, 0);
  if (rc != 0) {
    const std::string why = tjGetErrorStr2(tj);
    tjFree(jpeg);
    c.discard();
    throw std::runtime_error("JPEG encoding failed: " + why);
  }
  EncodedImage out = copy_out(jpeg, jpeg_size);
  tjFree(jpeg);
  return out;
}

EncodedImage encode_png(const Image& image, const EncodeOptions& o) {
  const int type = image.channels == 1 ? CV_8UC1 : CV_8UC3;
  const cv::Mat pixels(image.height, image.width, type, image.pixels.get());
  cv::Mat bgr;  // a buffer of its own: the image's pixels may be shared
  if (image.channels == 3) {
    cv::cvtColor(pixels, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = pixels;
  }
  std::vector<uchar> png;
  try {
    if (!cv::imencode(".png", bgr, png, {cv::IMWRITE_PNG_COMPRESSION, o.png_compression})) {
      throw std::runtime_error("PNG encoding failed");
    }
  } catch (const cv::Exception& e) {
    throw std::runtime_error(std::string("PNG encoding failed: ") + e.what());
  }
  return copy_out(png.data(), png.size());
}

}  // namespace

EncodedImage encode_image(const Image& image, const EncodeOptions& options) {
  if (image.width <= 0 || image.height <= 0 || !image.pixels) {
    throw std::runtime_error("cannot encode an empty image");
  }
  if (image.channels != 1 && image.channels != 3) {
    throw std::runtime_error("cannot encode an image of " + std::to_string(image.channels) +
                             " channels (1 or 3)");
  }
  return options.png ? encode_png(image, options) : encode_jpeg(image, options);
}

}  // namespace sluice::data
