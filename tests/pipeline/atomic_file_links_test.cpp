// pipeline/atomic_file.h in a folder where someone else planted symlinks: at the
// final name, at the temporary names older sluices used ("PATH.tmp") and at names
// of AtomicFile's own pattern, a link to a victim file must never be written
// through: the victim keeps its bytes, the final name ends as a regular file with
// the new content. Appending refuses a link and a FIFO without blocking.
#include "pipeline/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/special_files.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using test::finish_within;
using test::kHangLimit;
using test::SpecialFiles;

const std::string kVictimText = "the victim's own bytes\n";

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A folder with a victim file outside it and links planted at `names`.
class PlantedLinks {
 public:
  explicit PlantedLinks(const std::string& tag) : files_(tag) {
    fs::create_directories(folder());
    std::ofstream(victim(), std::ios::binary) << kVictimText;
  }
  fs::path folder() const { return files_.dir() / "shared"; }
  fs::path victim() const { return files_.dir() / "victim.txt"; }
  void plant(const std::string& name) const { fs::create_symlink(victim(), folder() / name); }
  // Links at the final name, the old fixed temporaries and some of the pattern's
  // names (mkstemp's letters cannot be predicted; these show that a taken one is
  // skipped, not opened).
  void plant_around(const std::string& name) const {
    plant(name);
    plant(name + ".tmp");
    for (const char* suffix : {"AAAAAA", "XXXXXX", "000000", "aaaaaa"}) {
      plant(name + ".tmp." + suffix);
    }
  }
  void expect_victim_untouched() const {
    EXPECT_EQ(read_all(victim()), kVictimText) << "a planted link was written through";
  }

 private:
  SpecialFiles files_;
};

TEST(AtomicFileLinks, WriteReplacesAPlantedLinkAndNeverWritesThroughIt) {
  PlantedLinks dir("atomic_links_write");
  dir.plant_around("report.html");
  const fs::path target = dir.folder() / "report.html";
  write_file_atomically(target.string(), "new content");
  dir.expect_victim_untouched();
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(target)));
  EXPECT_EQ(read_all(target), "new content");
}

TEST(AtomicFileLinks, StreamedWriteWithAHookBeforeTheRename) {
  PlantedLinks dir("atomic_links_stream");
  dir.plant_around("part-000000.tar");
  const fs::path target = dir.folder() / "part-000000.tar";
  {
    AtomicFile file(target.string(), Durability::kUnsynced);
    file.write("one ");
    file.write("two");
    bool hooked = false;
    file.commit([&](size_t bytes) {
      hooked = true;
      EXPECT_EQ(bytes, 7u);
      // Whatever temporary holds the bytes now is a file of ours, not a link.
      for (const auto& e : fs::directory_iterator(dir.folder())) {
        const std::string name = e.path().filename().string();
        if (is_atomic_temporary(name, "part-000000.tar") && !fs::is_symlink(e.symlink_status())) {
          EXPECT_EQ(read_all(e.path()), "one two");
        }
      }
    });
    EXPECT_TRUE(hooked);
  }
  dir.expect_victim_untouched();
  EXPECT_EQ(read_all(target), "one two");
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(target)));
}

TEST(AtomicFileLinks, AnAbandonedFileLeavesNoTemporaryAndTheOldFile) {
  PlantedLinks dir("atomic_links_abandon");
  const fs::path target = dir.folder() / "last.pt";
  std::ofstream(target) << "old";
  {
    AtomicFile file(target.string());
    file.write("half of a new one");
  }  // not committed: as a run that failed while writing
  EXPECT_EQ(read_all(target), "old");
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.folder())) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "last.pt");
  }
  EXPECT_EQ(entries, 1u);
}

TEST(AtomicFileLinks, AppendingRefusesALinkAndAFifoAtOnce) {
  PlantedLinks dir("atomic_links_append");
  dir.plant("metrics.jsonl");
  const std::string link = (dir.folder() / "metrics.jsonl").string();
  try {
    append_to_file(link, "{\"epoch\": 1}\n");
    FAIL() << "appended through a symlink";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(link), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("symbolic link"), std::string::npos) << e.what();
  }
  dir.expect_victim_untouched();

  const std::string fifo = (dir.folder() / "metrics.csv").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto done = finish_within(kHangLimit, [fifo] { append_to_file(fifo, "x\n"); });
  ASSERT_TRUE(done) << "appending to a FIFO blocked";
  EXPECT_NE(done->error.find(fifo), std::string::npos) << done->error;

  const std::string plain = (dir.folder() / "metrics.txt").string();
  append_to_file(plain, "a\n");
  append_to_file(plain, "b\n");
  EXPECT_EQ(read_all(plain), "a\nb\n");
}

TEST(AtomicFileLinks, TemporaryNamesFollowOnePattern) {
  EXPECT_TRUE(is_atomic_temporary("last.pt.tmp.Ab12Cd", "last.pt"));
  EXPECT_FALSE(is_atomic_temporary("last.pt.tmp", "last.pt"));
  EXPECT_FALSE(is_atomic_temporary("last.pt.tmp.Ab12Cd.x", "last.pt"));
  EXPECT_FALSE(is_atomic_temporary("best.pt.tmp.Ab12Cd", "last.pt"));
}

}  // namespace
}  // namespace sluice
