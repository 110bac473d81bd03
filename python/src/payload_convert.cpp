#include "python/src/payload_convert.h"

#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "pipeline/payload_text.h"
#include "vision/payloads.h"

namespace py = pybind11;

namespace sluice::python {
namespace {

// A NumPy array over `buffer` whose base owns a reference to it.
py::array pixel_view(const ByteBuffer& buffer, std::vector<py::ssize_t> shape) {
  auto* owner = new ByteBuffer(buffer);
  py::capsule base(owner, [](void* p) { delete static_cast<ByteBuffer*>(p); });
  return py::array(py::dtype::of<uint8_t>(), std::move(shape), buffer.get(), base);
}

py::object normalization_dict(const Normalization& n) {
  switch (n.kind) {
    case Normalization::Kind::kNone:
      return py::none();
    case Normalization::Kind::kRescale:
      return py::dict(py::arg("kind") = "rescale", py::arg("scale") = n.scale);
    case Normalization::Kind::kMeanStd:
      return py::dict(py::arg("kind") = "mean_std",
                      py::arg("mean") = std::vector<double>(n.mean, n.mean + 3),
                      py::arg("std") = std::vector<double>(n.std, n.std + 3));
  }
  return py::none();
}

// uint8 NHWC -> float32 NCHW with the pending scaling, without the GIL.
py::array normalized_nchw(const Batch& b) {
  const py::ssize_t n = b.size, h = b.height, w = b.width, c = b.channels;
  py::array_t<float> out({n, c, h, w});
  float* dst = out.mutable_data();
  const uint8_t* src = b.pixels.get();
  float scale[4] = {1, 1, 1, 1}, shift[4] = {0, 0, 0, 0};
  for (int k = 0; k < c && k < 4; ++k) {
    if (b.normalization.kind == Normalization::Kind::kRescale) {
      scale[k] = static_cast<float>(b.normalization.scale);
    } else if (b.normalization.kind == Normalization::Kind::kMeanStd && k < 3) {
      scale[k] = static_cast<float>(1.0 / (255.0 * b.normalization.std[k]));
      shift[k] = static_cast<float>(-b.normalization.mean[k] / b.normalization.std[k]);
    }
  }
  py::gil_scoped_release nogil;
  const py::ssize_t plane = h * w;
  for (py::ssize_t i = 0; i < n; ++i) {
    const uint8_t* img = src + i * plane * c;
    float* o = dst + i * plane * c;
    for (py::ssize_t p = 0; p < plane; ++p) {
      for (py::ssize_t k = 0; k < c; ++k) {
        const int kk = k < 4 ? static_cast<int>(k) : 3;
        o[k * plane + p] = img[p * c + k] * scale[kk] + shift[kk];
      }
    }
  }
  return std::move(out);
}

py::dict attributes_dict(const AttributeNames& names, const std::vector<int8_t>& attrs,
                         py::ssize_t rows) {
  py::dict out;
  if (!names || names->empty()) return out;
  const py::ssize_t k = static_cast<py::ssize_t>(names->size());
  for (py::ssize_t j = 0; j < k; ++j) {
    py::array_t<int8_t> col(rows);
    int8_t* d = col.mutable_data();
    for (py::ssize_t i = 0; i < rows; ++i) {
      const size_t at = static_cast<size_t>(i * k + j);
      d[i] = at < attrs.size() ? attrs[at] : 0;
    }
    out[py::str((*names)[static_cast<size_t>(j)])] = col;
  }
  return out;
}

py::dict batch_dict(const Batch& b, const ConvertOptions& options) {
  py::dict d;
  if (options.normalize) {
    d["images"] = normalized_nchw(b);
    d["layout"] = "NCHW";
  } else {
    d["images"] = pixel_view(b.pixels, {b.size, b.height, b.width, b.channels});
    d["layout"] = "NHWC";
  }
  d["labels"] = py::array_t<int64_t>(static_cast<py::ssize_t>(b.labels.size()), b.labels.data());
  d["indices"] = py::array_t<int64_t>(static_cast<py::ssize_t>(b.sample_indices.size()),
                                      b.sample_indices.data());
  d["ids"] = b.ids;
  d["paths"] = b.paths;
  d["split"] = b.split;
  d["epoch"] = b.epoch;
  d["index"] = b.index;
  d["attributes"] = attributes_dict(b.attr_names, b.attrs, b.size);
  d["normalization"] = options.normalize ? py::none() : normalization_dict(b.normalization);
  return d;
}

py::dict sample_fields(const Sample& s) {
  py::dict d;
  d["id"] = s.id;
  d["path"] = s.path;
  d["label"] = s.label;
  d["index"] = s.index;
  d["split"] = s.split;
  d["epoch"] = s.epoch;
  d["attributes"] = attributes_dict(s.attr_names, std::vector<int8_t>(s.attrs), 1);
  return d;
}

py::dict image_dict(const Image& img) {
  py::dict d = sample_fields(img.sample);
  d["image"] = pixel_view(img.pixels, {img.height, img.width, img.channels});
  d["normalization"] = normalization_dict(img.normalization);
  return d;
}

}  // namespace

py::object payload_to_python(std::any& value, const ConvertOptions& options) {
  if (auto* b = std::any_cast<Batch>(&value)) return batch_dict(*b, options);
  if (auto* img = std::any_cast<Image>(&value)) return image_dict(*img);
  if (auto* s = std::any_cast<Sample>(&value)) return sample_fields(*s);
  if (auto* i = std::any_cast<int64_t>(&value)) return py::int_(*i);
  if (auto* f = std::any_cast<double>(&value)) return py::float_(*f);
  if (auto* str = std::any_cast<std::string>(&value)) return py::str(*str);
  throw py::type_error("python.output cannot convert " + describe_payload(value));
}

}  // namespace sluice::python
