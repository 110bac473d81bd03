// `sluice augment`: applies one fixed Keras-style transform to one image with
// the code image.augment uses, to check what a setting does.
#include <cstdio>
#include <iostream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "stages/data/affine_warp.h"
#include "stages/data/jpeg_decoder.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"
#include "tools/sluice/image_output.h"

namespace sluice::cli {
namespace {

int augment_cmd(const std::vector<std::string>& args) {
  std::string input, output, size = "224x224", zoom = "1,1", fill = "nearest", convention = "2.9";
  double shear = 0, cval = 0, rotation = 0, tx = 0, ty = 0, brightness = 0;
  bool flip = false, vflip = false;
  po::options_description o("options");
  o.add_options()("image", po::value(&input)->required(), "input image (JPEG, PNG, BMP)")(
      "out", po::value(&output)->required(), "output image (.png keeps it lossless)")(
      "size", po::value(&size)->default_value(size), "output size WxH")(
      "shear", po::value(&shear)->default_value(0), "shear angle in degrees")(
      "zoom", po::value(&zoom)->default_value(zoom),
      "zoom factors ZX,ZY (> 1 zooms out, as Keras)")("flip", po::bool_switch(&flip),
                                                      "flip horizontally")(
      "fill", po::value(&fill)->default_value(fill), "nearest, constant, reflect or wrap")(
      "cval", po::value(&cval)->default_value(0), "fill value for --fill constant (0-255)")(
      "rotation", po::value(&rotation)->default_value(0), "rotation angle in degrees")(
      "tx", po::value(&tx)->default_value(0),
      "Keras' tx in pixels (moves x under 2.9, rows under legacy)")(
      "ty", po::value(&ty)->default_value(0), "Keras' ty in pixels")(
      "vflip", po::bool_switch(&vflip), "flip vertically")(
      "brightness", po::value(&brightness)->default_value(0),
      "brightness factor (0: none), as Keras' brightness")(
      "convention", po::value(&convention)->default_value(convention),
      "Keras convention: 2.9 or legacy (keras_preprocessing 1.1)");
  po::positional_options_description pos;
  pos.add("image", 1);
  po::variables_map vm;
  const std::string usage =
      "IMAGE --out OUT.png --size WxH --shear DEG --zoom ZX,ZY [--flip] [--fill MODE]";
  if (auto code = parse_command_line("augment", usage, args, o, pos, vm)) return *code;

  int width = 0, height = 0;
  double zx = 1, zy = 1;
  char tail = 0;
  data::FillMode mode;
  if (!parse_size_option("augment", size, width, height)) return kExitConfigError;
  // --shear is one angle, either sign; image.augment's shear is the range of it.
  ParamSpec shear_spec = builtin_param("image.augment", "shear");
  shear_spec.min_value = -*shear_spec.max_value;
  if (!option_ok("augment", "shear", shear_spec, shear)) return kExitConfigError;
  if (std::sscanf(zoom.c_str(), "%lf,%lf%c", &zx, &zy, &tail) != 2) {
    std::cerr << "sluice augment: --zoom must be ZX,ZY, e.g. 0.9,1.1 (got '" << zoom << "')\n";
    return kExitConfigError;
  }
  if (!option_ok("augment", "zoom", builtin_param("image.augment", "zoom"),
                 std::vector<double>{zx, zy})) {
    return kExitConfigError;
  }
  if (!(zx > 0 && zy > 0)) {
    std::cerr << "sluice augment: --zoom must be ZX,ZY with positive numbers (got '" << zoom
              << "')\n";
    return kExitConfigError;
  }
  if (!option_ok("augment", "cval", builtin_param("image.augment", "cval"), cval) ||
      !option_ok("augment", "fill", builtin_param("image.augment", "fill_mode"), fill)) {
    return kExitConfigError;
  }
  data::KerasConvention conv;
  if (!data::parse_keras_convention(convention, conv)) {
    std::cerr << "sluice augment: --convention must be 2.9 or legacy (got '" << convention
              << "')\n";
    return kExitConfigError;
  }
  // --rotation, --tx, --ty are one signed value each; the stage's are ranges.
  ParamSpec rotation_spec = builtin_param("image.augment", "rotation");
  rotation_spec.min_value = -*rotation_spec.max_value;
  ParamSpec shift_spec = builtin_param("image.augment", "width_shift");
  shift_spec.min_value = -*shift_spec.max_value;
  if (!option_ok("augment", "rotation", rotation_spec, rotation) ||
      !option_ok("augment", "tx", shift_spec, tx) || !option_ok("augment", "ty", shift_spec, ty)) {
    return kExitConfigError;
  }
  if (!(brightness >= 0.0 && brightness <= 10.0)) {
    std::cerr << "sluice augment: --brightness must be in [0, 10] (0: none), got " << brightness
              << '\n';
    return kExitConfigError;
  }
  if (!data::parse_fill_mode(fill, mode)) {
    std::cerr << "sluice augment: --fill must be nearest, constant, reflect or wrap (got '" << fill
              << "')\n";
    return kExitConfigError;
  }
  if (std::string bad = check_image_output(output); !bad.empty()) {
    std::cerr << "sluice augment: " << bad << '\n';
    return kExitConfigError;
  }
  Image src;
  const data::DecodeResult r = data::decode_image_file(input, {}, data::heap_buffer, src);
  if (!r.ok()) {
    std::cerr << "sluice augment: " << input << ": " << data::decode_status_name(r.status) << ": "
              << r.message << '\n';
    return kExitFailure;
  }
  cv::Mat rgb(height, width, CV_8UC3);
  data::KerasTransform t{shear, zx, zy, flip};
  t.theta_deg = rotation;
  t.tx = tx;
  t.ty = ty;
  t.flip_v = vflip;
  t.brightness = brightness;
  try {
    const data::ImageSpan span{rgb.data, width, height, 3, static_cast<ptrdiff_t>(rgb.step)};
    data::warp_affine({src.pixels.get(), src.width, src.height, 3, src.width * 3},
                      data::keras_inverse_map(t, src.width, src.height, width, height, conv), mode,
                      static_cast<uint8_t>(cval + 0.5), span);
    data::apply_intensity(t, conv, span);
  } catch (const std::invalid_argument& e) {
    std::cerr << "sluice augment: " << e.what() << '\n';
    return kExitFailure;
  }
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  if (std::string failed = write_image(output, bgr); !failed.empty()) {
    std::cerr << "sluice augment: " << failed << '\n';
    return kExitFailure;
  }
  std::cout << input << " (" << src.width << "x" << src.height << ") -> " << output << " (" << width
            << "x" << height << "), shear " << shear << " deg, zoom " << zx << "," << zy
            << (flip ? ", flipped" : "") << ", rotation " << rotation << " deg, shift " << tx << ","
            << ty << (vflip ? ", flipped vertically" : "")
            << (brightness != 0 ? ", brightness " + std::to_string(brightness) : "") << ", fill "
            << fill << ", Keras " << convention << '\n';
  return kExitOk;
}

}  // namespace

SLUICE_COMMAND(augment, "apply one fixed Keras transform (shear, zoom, rotation, ...) to an image",
               augment_cmd);

}  // namespace sluice::cli
