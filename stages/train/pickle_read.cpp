#include "stages/train/pickle_read.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import_read.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pipeline/file_read.h"
#include "stages/train/zip_bounds.h"

namespace sluice::train {
namespace {

// Every read is clamped to the buffer. The adapter also remembers how many bytes
// went into each destination buffer: a storage's record is read whole into the
// storage's own allocation, so a storage that claims more bytes than were read
// into its data pointer claims more than its allocation holds.
class BoundedReadAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReadAdapter(std::string_view bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    const size_t count = static_cast<size_t>(std::min<uint64_t>(n, bytes_.size() - pos));
    std::memcpy(buf, bytes_.data() + pos, count);
    read_into_[buf] = n;
    return count;
  }
  // Bytes read into `buf` by its last read, or SIZE_MAX if nothing was.
  size_t read_into(const void* buf) const {
    const auto it = read_into_.find(buf);
    return it == read_into_.end() ? SIZE_MAX : it->second;
  }

 private:
  std::string_view bytes_;  // the caller's buffer, alive for the reader's lifetime
  mutable std::unordered_map<const void*, size_t> read_into_;
};

uint64_t little_endian(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

// The argument of each pickle opcode LibTorch's Unpickler knows: a fixed number of
// bytes, a length field of 1, 4 or 8 bytes followed by that many bytes, or text up
// to a newline (count = lines). Opcodes without an argument are 0.
struct OpArg {
  enum Kind { kFixed, kLength, kLines, kUnknown } kind;
  int count;
};

OpArg arg_of(uint8_t op) {
  switch (op) {
    case 'K':
    case 'h':
    case 'q':
    case 0x80:
    case 0x82:
      return {OpArg::kFixed, 1};
    case 'M':
    case 0x83:
      return {OpArg::kFixed, 2};
    case 'J':
    case 'j':
    case 'r':
    case 0x84:
      return {OpArg::kFixed, 4};
    case 'G':
    case 0x95:
      return {OpArg::kFixed, 8};
    case 'U':
    case 'C':
    case 0x8a:
    case 0x8c:
      return {OpArg::kLength, 1};
    case 'T':
    case 'X':
    case 'B':
    case 0x8b:
      return {OpArg::kLength, 4};
    case 0x8d:
    case 0x8e:
      return {OpArg::kLength, 8};
    case 'F':
    case 'I':
    case 'L':
    case 'P':
    case 'S':
    case 'V':
    case 'g':
    case 'p':
      return {OpArg::kLines, 1};
    case 'c':
    case 'i':
      return {OpArg::kLines, 2};
    case '(':
    case '.':
    case '0':
    case '1':
    case '2':
    case 'N':
    case 'Q':
    case 'R':
    case 'a':
    case 'b':
    case 'd':
    case '}':
    case 'e':
    case 'l':
    case ']':
    case 'o':
    case 's':
    case 't':
    case ')':
    case 'u':
    case 0x81:
    case 0x85:
    case 0x86:
    case 0x87:
    case 0x88:
    case 0x89:
    case 0x8f:
    case 0x90:
    case 0x91:
    case 0x92:
    case 0x93:
    case 0x94:
      return {OpArg::kFixed, 0};
    default:
      return {OpArg::kUnknown, 0};
  }
}

// Required bytes of a tensor's view into its storage, or -1 when a stride is
// negative or the extent overflows.
int64_t view_bytes(const at::Tensor& t) {
  if (t.numel() == 0) return 0;
  int64_t last = t.storage_offset();
  for (int64_t d = 0; d < t.dim(); ++d) {
    int64_t reach = 0;
    if (t.stride(d) < 0 || __builtin_mul_overflow(t.size(d) - 1, t.stride(d), &reach) ||
        __builtin_add_overflow(last, reach, &last)) {
      return -1;
    }
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(last + 1, static_cast<int64_t>(t.element_size()), &bytes)) return -1;
  return bytes;
}

void check_tensor(const at::Tensor& t, const BoundedReadAdapter& adapter) {
  if (!t.defined() || !t.has_storage()) return;
  const size_t storage_bytes = t.storage().nbytes();
  const size_t read = adapter.read_into(t.storage().data());
  if (read != SIZE_MAX && storage_bytes > read) {
    throw std::runtime_error("a tensor storage claims " + std::to_string(storage_bytes) +
                             " bytes but its record holds " + std::to_string(read));
  }
  const int64_t need = view_bytes(t);
  if (need < 0 || static_cast<uint64_t>(need) > storage_bytes) {
    throw std::runtime_error("a tensor of " + std::to_string(t.numel()) +
                             " elements reaches past its " + std::to_string(storage_bytes) +
                             "-byte storage");
  }
}

void check_tensors(const c10::IValue& v, const BoundedReadAdapter& adapter, int depth) {
  if (depth > 64) throw std::runtime_error("tensor container nested more than 64 deep");
  if (v.isTensor()) {
    check_tensor(v.toTensor(), adapter);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) check_tensors(e.value(), adapter, depth + 1);
  } else if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) check_tensors(e, adapter, depth + 1);
  } else if (v.isTuple()) {
    for (const c10::IValue& e : v.toTupleRef().elements()) check_tensors(e, adapter, depth + 1);
  }
}

void check_record_pickles(caffe2::serialize::PyTorchStreamReader& reader) {
  for (const std::string& name : reader.getAllRecords()) {
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".pkl") != 0) continue;
    auto [data, size] = reader.getRecord(name);
    check_pickle_lengths(static_cast<const uint8_t*>(data.get()), size, name);
  }
}

}  // namespace

namespace {

// At most this many bytes of records per byte of zip (torch.save stores records
// uncompressed: a real file expands to its own size).
uint64_t zip_budget(size_t zip_bytes) {
  return std::min<uint64_t>(kMaxCheckpointBytes, uint64_t{4} * zip_bytes + (uint64_t{64} << 20));
}

}  // namespace

c10::IValue pickle_load_bounded(const std::vector<char>& bytes) {
  check_zip_bounds(bytes.data(), bytes.size(), zip_budget(bytes.size()));
  // What torch::pickle_load does, with the bounded adapter in place of MemoryReadAdapter.
  auto adapter = std::make_shared<BoundedReadAdapter>(std::string_view(bytes.data(), bytes.size()));
  caffe2::serialize::PyTorchStreamReader reader(adapter);
  check_record_pickles(reader);
  c10::IValue value = torch::jit::readArchiveAndTensors(
      "data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
      /*type_resolver=*/c10::nullopt,
      /*obj_loader=*/c10::nullopt, /*device=*/c10::nullopt, reader);
  check_tensors(value, *adapter, 0);
  return value;
}

void check_pickle_lengths(const uint8_t* p, size_t n, const std::string& name) {
  size_t pos = 0;
  uint64_t memo_writes = 0;
  while (pos < n) {
    const uint8_t op = p[pos++];
    if (op == '.') return;  // STOP
    const OpArg arg = arg_of(op);
    if (arg.kind == OpArg::kUnknown) return;  // the unpickler refuses it itself
    if (arg.kind == OpArg::kLines) {
      for (int k = 0; k < arg.count; ++k) {
        const void* eol = std::memchr(p + pos, '\n', n - pos);
        if (eol == nullptr) return;  // the unpickler reports the short read
        pos = static_cast<size_t>(static_cast<const uint8_t*>(eol) - p) + 1;
      }
      continue;
    }
    if (n - pos < static_cast<size_t>(arg.count)) return;
    if (op == 'q' || op == 'r') {  // BINPUT, LONG_BINPUT: the unpickler sizes its memo by the id
      const uint64_t id = little_endian(p + pos, arg.count);
      if (id > memo_writes) {
        throw std::runtime_error(name + " stores memo entry " + std::to_string(id) + " at offset " +
                                 std::to_string(pos - 1) + " after only " +
                                 std::to_string(memo_writes) + " (picklers number them in order)");
      }
      ++memo_writes;
    }
    if (op == 0x94) ++memo_writes;  // MEMOIZE (protocol 4)
    uint64_t skip = static_cast<uint64_t>(arg.count);
    if (arg.kind == OpArg::kLength) {
      const uint64_t length = little_endian(p + pos, arg.count);
      if (length > n - pos - arg.count) {
        throw std::runtime_error(name + " declares " + std::to_string(length) +
                                 " bytes at offset " + std::to_string(pos - 1) + " but only " +
                                 std::to_string(n - pos - arg.count) + " follow");
      }
      skip += length;
    }
    pos += static_cast<size_t>(skip);
  }
}

void check_archive_pickles(const std::string& bytes) {
  check_zip_bounds(bytes.data(), bytes.size(), zip_budget(bytes.size()));
  caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReadAdapter>(bytes));
  check_record_pickles(reader);
}

}  // namespace sluice::train
