// A plugin whose sink takes an image type of its own, also named "Image", but
// not sluice::Image (as a plugin built against other payload headers would):
// loading it works, and `sluice check` refuses to wire it after image.decode,
// naming both C++ types, instead of the run failing on the first image.
#include <cstdint>
#include <vector>

#include "pipeline/plugin_api.h"

namespace other {
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};
}  // namespace other

SLUICE_PAYLOAD_NAME(other::Image, "Image");

namespace {
class CountImages : public sluice::Sink {
 public:
  explicit CountImages(const sluice::Params&) {}
  void consume(std::any& in) override {
    pixels_ += sluice::payload_as<other::Image>(in).pixels.size();
  }

 private:
  uint64_t pixels_ = 0;
};
}  // namespace

SLUICE_PLUGIN(payload, registry) {
  registry.add<CountImages>(sluice::StageSpec("other.count_images")
                                .doc("Counts the pixels of other::Image payloads.")
                                .sink<other::Image>());
}
