// JPEG decoding through libjpeg's own API (jpeglib.h, libjpeg-turbo 2.1.5, the
// library PIL links), for the files TurboJPEG's calls refuse or warn about:
//   - tjDecompressHeader3 fails on any libjpeg warning in the header (junk bytes
//     before a marker, "\xff\x00" in a segment, an APP14 segment with an odd
//     length) although libjpeg reads on, and on sampling factors it has no
//     TJSAMP_* for ("Could not determine subsampling type", e.g. CMYK 2x1,1x1..);
//   - TurboJPEG reports only the first warning of a decode, so it cannot tell a
//     file that ends early (PIL: "image file is truncated") from one whose scan
//     data is cut short but which goes on to its end marker (PIL decodes it).
// Here every warning is seen, and judged as PIL judges the file: the data ending
// (JWRN_JPEG_EOF, "Premature end of JPEG file") before the last row is out means
// truncated; any other warning, and an error after the last row (a stray marker
// after the image), leaves the image decoded, reported with its first warning.
//
// A fresh jpeg_decompress_struct per call, so no state outlives a bad file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::data {

struct LibjpegHeader {
  int width = 0;
  int height = 0;
  bool cmyk = false;  // CMYK or YCCK: decoded to 4 channels (Adobe inverted)
};

struct LibjpegOutcome {
  bool ok = false;         // decoded (or, for the header, read)
  bool truncated = false;  // the data ended before the last row (JWRN_JPEG_EOF)
  int warnings = 0;        // libjpeg warnings seen
  std::string message;     // the error, or the first warning
};

// Reads the header only.
LibjpegOutcome libjpeg_read_header(const uint8_t* data, size_t size, LibjpegHeader& header);

// Decodes into `pixels` (width * height * 3 bytes of RGB, or 4 of CMYK when
// header.cmyk), with the header read first by libjpeg_read_header. `fast_dct`
// selects JDCT_IFAST, as TJFLAG_FASTDCT does.
LibjpegOutcome libjpeg_decode(const uint8_t* data, size_t size, const LibjpegHeader& header,
                              bool fast_dct, uint8_t* pixels);

}  // namespace sluice::data
