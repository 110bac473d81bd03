#include "stages/data/libjpeg_decode.h"

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE

#include <jerror.h>
#include <jpeglib.h>

namespace sluice::data {
namespace {

// libjpeg's error manager, extended: an error jumps back to the setjmp of the
// step under way (read_header, read_rows, read_to_end); every warning is counted.
struct ErrorManager {
  jpeg_error_mgr mgr;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  int warnings = 0;
  bool rows_done = false;  // every row is out: what follows cannot spoil the image
  bool eof = false;        // JWRN_JPEG_EOF seen before the last row was out
  char first_warning[JMSG_LENGTH_MAX] = {};
  char error[JMSG_LENGTH_MAX] = {};
};

void on_error(j_common_ptr info) {
  auto* err = reinterpret_cast<ErrorManager*>(info->err);
  info->err->format_message(info, err->error);
  std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr info, int level) {
  if (level >= 0) return;  // trace messages
  auto* err = reinterpret_cast<ErrorManager*>(info->err);
  if (err->warnings++ == 0) info->err->format_message(info, err->first_warning);
  if (info->err->msg_code == JWRN_JPEG_EOF && !err->rows_done) err->eof = true;
  ++info->err->num_warnings;
}

// One decompressor, destroyed with the session whatever happened to it.
struct Session {
  jpeg_decompress_struct info{};
  ErrorManager err;
  Session() {
    info.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = on_error;
    err.mgr.emit_message = on_message;
  }
  ~Session() { jpeg_destroy_decompress(&info); }  // a no-op before create
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  LibjpegOutcome outcome(bool ok) const {
    LibjpegOutcome o;
    o.ok = ok;
    o.truncated = err.eof;
    o.warnings = err.warnings;
    o.message = ok ? err.first_warning : err.error;
    return o;
  }
};

// The steps below hold setjmp; between it and any longjmp only libjpeg's C
// frames run, so no C++ destructor is skipped.
bool read_header(Session& s, const uint8_t* data, size_t size) {
  if (setjmp(s.err.jump)) return false;
  jpeg_create_decompress(&s.info);
  jpeg_mem_src(&s.info, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(&s.info, TRUE);
  return true;
}

bool read_rows(Session& s, const LibjpegHeader& header, bool fast_dct, uint8_t* pixels) {
  if (setjmp(s.err.jump)) return false;
  s.info.out_color_space = header.cmyk ? JCS_CMYK : JCS_RGB;
  s.info.dct_method = fast_dct ? JDCT_IFAST : JDCT_ISLOW;
  jpeg_start_decompress(&s.info);
  const int channels = header.cmyk ? 4 : 3;
  if (static_cast<int>(s.info.output_width) != header.width ||
      static_cast<int>(s.info.output_height) != header.height ||
      s.info.output_components != channels) {
    std::snprintf(s.err.error, sizeof s.err.error, "output is %ux%u with %d channels",
                  s.info.output_width, s.info.output_height, s.info.output_components);
    return false;
  }
  const size_t stride = static_cast<size_t>(header.width) * channels;
  while (s.info.output_scanline < s.info.output_height) {
    JSAMPROW row = pixels + s.info.output_scanline * stride;
    jpeg_read_scanlines(&s.info, &row, 1);
  }
  s.err.rows_done = true;
  return true;
}

// After the last row: the end marker, or whatever stands in its place. PIL stops
// reading here once it has every row (its source suspends at the end of the
// data; an error after the image is ignored), so a stray marker after the image
// costs nothing but a warning. (A missing end marker is another matter: libjpeg
// reads ahead for the last row, so there the data ends before the image does.)
void read_to_end(Session& s) {
  if (setjmp(s.err.jump)) {
    if (s.err.warnings++ == 0) {
      std::snprintf(s.err.first_warning, sizeof s.err.first_warning, "after the image: %.150s",
                    s.err.error);
    }
    return;
  }
  jpeg_finish_decompress(&s.info);
}

bool is_cmyk(const jpeg_decompress_struct& info) {
  return info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
}

}  // namespace

LibjpegOutcome libjpeg_read_header(const uint8_t* data, size_t size, LibjpegHeader& header) {
  Session s;
  if (!read_header(s, data, size)) return s.outcome(false);
  header.width = static_cast<int>(s.info.image_width);
  header.height = static_cast<int>(s.info.image_height);
  header.cmyk = is_cmyk(s.info);
  return s.outcome(true);
}

LibjpegOutcome libjpeg_decode(const uint8_t* data, size_t size, const LibjpegHeader& header,
                              bool fast_dct, uint8_t* pixels) {
  Session s;
  if (!read_header(s, data, size)) return s.outcome(false);
  if (is_cmyk(s.info) != header.cmyk) {
    std::snprintf(s.err.error, sizeof s.err.error, "the colour space changed between reads");
    return s.outcome(false);
  }
  if (!read_rows(s, header, fast_dct, pixels)) return s.outcome(false);
  read_to_end(s);
  return s.outcome(true);
}

}  // namespace sluice::data
