#include "stages/data/celeba_index.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace sluice::data {
namespace {
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("sluice_index_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

struct Table {
  std::vector<std::string> ids;
  std::vector<std::vector<int>> values;  // -1/1 per attribute
  std::vector<int> partition;
};

Table make_table(int n) {
  std::mt19937 gen(7);
  Table t;
  for (int i = 0; i < n; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "%06d.jpg", i + 1);
    t.ids.push_back(id);
    std::vector<int> row;
    for (int a = 0; a < 40; ++a) row.push_back(gen() % 2 ? 1 : -1);
    t.values.push_back(row);
    t.partition.push_back(i < n * 8 / 10 ? 0 : (i < n * 9 / 10 ? 1 : 2));
  }
  return t;
}

void write_kaggle(const fs::path& root, const Table& t, const std::string& eol) {
  std::ostringstream attr, part;
  attr << "image_id";
  for (const auto& n : celeba_attribute_names()) attr << ',' << n;
  attr << eol;
  part << "image_id,partition" << eol;
  for (size_t i = 0; i < t.ids.size(); ++i) {
    attr << t.ids[i];
    for (int v : t.values[i]) attr << ',' << v;
    attr << eol;
    part << t.ids[i] << ',' << t.partition[i] << eol;
  }
  write((root / "list_attr_celeba.csv").string(), attr.str());
  write((root / "list_eval_partition.csv").string(), part.str());
  fs::create_directories(root / "img_align_celeba" / "img_align_celeba");
}

void write_original(const fs::path& root, const Table& t, const std::string& eol) {
  std::ostringstream attr, part;
  attr << t.ids.size() << eol;
  for (const auto& n : celeba_attribute_names()) attr << n << ' ';
  attr << eol;
  for (size_t i = 0; i < t.ids.size(); ++i) {
    attr << t.ids[i];
    for (int v : t.values[i]) attr << (v > 0 ? "  1" : " -1");
    attr << eol;
    part << t.ids[i] << ' ' << t.partition[i] << eol;
  }
  write((root / "list_attr_celeba.txt").string(), attr.str());
  write((root / "list_eval_partition.txt").string(), part.str());
  fs::create_directories(root / "img_align_celeba");
}

std::string error_of(const CelebaOptions& o) {
  try {
    load_celeba_index(o);
  } catch (const IndexError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CelebaIndex, BothLayoutsParseToTheSameSamples) {
  TempDir kaggle, original;
  const Table t = make_table(50);
  write_kaggle(kaggle.path(), t, "\r\n");
  write_original(original.path(), t, "\n");
  EXPECT_EQ(detect_celeba_layout(kaggle.path().string()), CelebaLayout::kKaggle);
  EXPECT_EQ(detect_celeba_layout(original.path().string()), CelebaLayout::kOriginal);
  for (const std::vector<std::string>& splits :
       {std::vector<std::string>{}, {"train"}, {"validation", "test"}}) {
    CelebaOptions ok{kaggle.path().string(), "Male", splits, {"Smiling", "Young"}};
    CelebaOptions oo{original.path().string(), "Male", splits, {"Smiling", "Young"}};
    const DatasetIndex a = load_celeba_index(ok);
    const DatasetIndex b = load_celeba_index(oo);
    ASSERT_EQ(a.samples.size(), b.samples.size());
    for (size_t i = 0; i < a.samples.size(); ++i) {
      const Sample& x = a.samples[i];
      const Sample& y = b.samples[i];
      EXPECT_EQ(x.index, y.index);
      EXPECT_EQ(x.id, y.id);
      EXPECT_EQ(x.split, y.split);
      EXPECT_EQ(x.label, y.label);
      EXPECT_EQ(x.attrs, y.attrs);
      EXPECT_EQ(fs::path(x.path).filename(), fs::path(y.path).filename());
      const int male = t.values[x.index][20];
      EXPECT_EQ(x.label, male > 0 ? 1 : 0);
      EXPECT_EQ(x.attrs[0], t.values[x.index][31]);  // Smiling
      EXPECT_EQ(x.attrs[1], t.values[x.index][39]);  // Young
    }
  }
  const DatasetIndex all = load_celeba_index({kaggle.path().string(), "Male", {}, {}});
  EXPECT_EQ(all.samples.size(), 50u);
  EXPECT_EQ(all.samples[0].path,
            (kaggle.path() / "img_align_celeba" / "img_align_celeba" / "000001.jpg").string());
  EXPECT_EQ(all.samples[0].origin, "list_attr_celeba.csv:2");
  const DatasetIndex orig = load_celeba_index({original.path().string(), "Male", {}, {}});
  EXPECT_EQ(orig.samples[0].path, (original.path() / "img_align_celeba" / "000001.jpg").string());
  EXPECT_EQ(orig.samples[0].origin, "list_attr_celeba.txt:3");
  const DatasetIndex val = load_celeba_index({kaggle.path().string(), "Male", {"validation"}, {}});
  EXPECT_EQ(val.samples.size(), 5u);
  EXPECT_EQ(val.samples[0].index, 40);
}

TEST(CelebaIndex, LabelByAnyAttribute) {
  TempDir d;
  const Table t = make_table(10);
  write_kaggle(d.path(), t, "\n");
  const DatasetIndex idx = load_celeba_index({d.path().string(), "Eyeglasses", {}, {}});
  for (const Sample& s : idx.samples) EXPECT_EQ(s.label, t.values[s.index][15] > 0 ? 1 : 0);
}

// Writes a Kaggle layout whose attribute file has `attr` as its text.
std::string kaggle_error(const std::string& attr, const std::string& part,
                         const std::string& label = "Male") {
  TempDir d;
  write(d.file("list_attr_celeba.csv"), attr);
  write(d.file("list_eval_partition.csv"), part);
  std::string e = error_of({d.path().string(), label, {}, {}});
  // Report relative to the temp folder so expectations can name the file.
  const std::string prefix = d.path().string() + "/";
  if (e.rfind(prefix, 0) == 0) e = e.substr(prefix.size());
  return e;
}

std::string header() {
  std::string h = "image_id";
  for (const auto& n : celeba_attribute_names()) h += "," + n;
  return h + "\n";
}

std::string row(const std::string& id, int male_value = 1, int columns = 40) {
  std::string r = id;
  for (int i = 0; i < columns; ++i) r += (i == 20 ? "," + std::to_string(male_value) : ",-1");
  return r + "\n";
}

TEST(CelebaIndex, WrongColumnCountNamesFileAndLine) {
  const std::string part = "image_id,partition\n000001.jpg,0\n000002.jpg,0\n";
  EXPECT_EQ(kaggle_error(header() + row("000001.jpg") + row("000002.jpg", 1, 39), part),
            "list_attr_celeba.csv:3: error: expected 41 columns, found 40");
}

TEST(CelebaIndex, ValueOtherThanPlusMinusOneNamesFileAndLine) {
  const std::string part = "image_id,partition\n000001.jpg,0\n000002.jpg,0\n";
  EXPECT_EQ(kaggle_error(header() + row("000001.jpg") + row("000002.jpg", 0), part),
            "list_attr_celeba.csv:3: error: value '0' of attribute 'Male' is not 1 or -1");
}

TEST(CelebaIndex, UnknownAttributeSuggestsAName) {
  const std::string part = "image_id,partition\n000001.jpg,0\n";
  EXPECT_EQ(kaggle_error(header() + row("000001.jpg"), part, "Mal"),
            "list_attr_celeba.csv:1: error: unknown label attribute 'Mal' (did you mean "
            "'Male'?)");
  TempDir d;
  write_kaggle(d.path(), make_table(3), "\n");
  try {
    load_celeba_index({d.path().string(), "Male", {}, {"Smilling"}});
    FAIL() << "expected an error";
  } catch (const IndexError& e) {
    EXPECT_EQ(e.line(), 1);
    EXPECT_NE(std::string(e.what()).find("unknown attribute 'Smilling' (did you mean 'Smiling'?)"),
              std::string::npos);
  }
}

TEST(CelebaIndex, NonAsciiLabelStillGetsASuggestion) {
  // "M\xc3\xa4le": bytes above 0x7f, which std::tolower(char) would receive
  // as negative values (undefined behaviour); the comparison is ASCII-only now.
  const std::string part = "image_id,partition\n000001.jpg,0\n";
  EXPECT_EQ(kaggle_error(header() + row("000001.jpg"), part, "M\xc3\xa4le"),
            "list_attr_celeba.csv:1: error: unknown label attribute 'M\xc3\xa4le' (did you mean "
            "'Male'?)");
}

TEST(CelebaIndex, IdMissingFromPartitionNamesAttributeLine) {
  const std::string part = "image_id,partition\n000001.jpg,0\n";
  const std::string e = kaggle_error(header() + row("000001.jpg") + row("000002.jpg"), part);
  EXPECT_EQ(e.rfind("list_attr_celeba.csv:3: error: image id '000002.jpg' is missing from ", 0), 0u)
      << e;
}

TEST(CelebaIndex, BadPartitionValueNamesFileAndLine) {
  const std::string part = "image_id,partition\n000001.jpg,3\n";
  EXPECT_EQ(kaggle_error(header() + row("000001.jpg"), part),
            "list_eval_partition.csv:2: error: partition '3' is not 0, 1 or 2");
}

TEST(CelebaIndex, CountLineMismatchNamesLineOne) {
  TempDir d;
  const Table t = make_table(4);
  write_original(d.path(), t, "\r\n");
  std::ifstream in(d.file("list_attr_celeba.txt"), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write(d.file("list_attr_celeba.txt"), "5" + text.substr(1));
  const std::string expected = d.file("list_attr_celeba.txt") +
                               ":1: error: count line says 5 images but 4 rows follow (a "
                               "truncated copy? if the rows are all you have, make the first "
                               "line 4)";
  EXPECT_EQ(error_of({d.path().string(), "Male", {}, {}}), expected);
  // `sluice check` reads the header alone, yet refuses the file as the run does.
  try {
    read_celeba_header(d.path().string());
    ADD_FAILURE() << "the header check accepted a count line the run refuses";
  } catch (const IndexError& e) {
    EXPECT_EQ(e.what(), expected);
  }
  // A count that matches passes, CRLF and a trailing blank line included.
  write(d.file("list_attr_celeba.txt"), "4" + text.substr(1) + "\r\n");
  EXPECT_NO_THROW(read_celeba_header(d.path().string()));
}

TEST(CelebaIndex, OriginalLayoutWrongColumnsAndValues) {
  TempDir d;
  write_original(d.path(), make_table(3), "\n");
  std::ifstream in(d.file("list_attr_celeba.txt"));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  in.close();
  auto rewrite = [&](size_t line_index, const std::string& text) {
    std::string all;
    for (size_t i = 0; i < lines.size(); ++i) all += (i == line_index ? text : lines[i]) + "\n";
    write(d.file("list_attr_celeba.txt"), all);
  };
  rewrite(3, lines[3] + "  1");
  EXPECT_EQ(error_of({d.path().string(), "Male", {}, {}}),
            d.file("list_attr_celeba.txt") + ":4: error: expected 41 columns, found 42");
  rewrite(4, lines[4].substr(0, lines[4].size() - 2) + " x");
  EXPECT_EQ(
      error_of({d.path().string(), "Male", {}, {}}),
      d.file("list_attr_celeba.txt") + ":5: error: value 'x' of attribute 'Young' is not 1 or -1");
}

TEST(CelebaIndex, MissingRootIsAnError) {
  EXPECT_THROW(load_celeba_index({"/nonexistent/celeba", "Male", {}, {}}), IndexError);
}

TEST(CsvIndex, ColumnsByNameAndClassNames) {
  TempDir d;
  write(d.file("list.csv"),
        "label,file,part\r\ncat,img/1.jpg,train\r\ndog,/abs/2.jpg,test\r\n"
        "cat,img/3.jpg,train\r\n");
  CsvIndexOptions o;
  o.file = d.file("list.csv");
  o.path_column = "file";
  o.split_column = "part";
  o.splits = {"train"};
  const DatasetIndex idx = load_csv_index(o);
  EXPECT_EQ(idx.class_names, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(idx.samples.size(), 2u);
  EXPECT_EQ(idx.samples[0].path, (d.path() / "img/1.jpg").string());
  EXPECT_EQ(idx.samples[1].index, 2);
  EXPECT_EQ(idx.samples[1].origin, "list.csv:4");
  o.path_column = "path";
  try {
    load_csv_index(o);
    FAIL();
  } catch (const IndexError& e) {
    EXPECT_EQ(std::string(e.what()),
              d.file("list.csv") + ":1: error: unknown path column 'path' (did you mean 'part'?)");
  }
}

TEST(CsvIndex, IntegerLabelsAndBadRows) {
  TempDir d;
  write(d.file("l.csv"), "path,label\na.jpg,1\nb.jpg,0\nc.jpg\n");
  CsvIndexOptions o;
  o.file = d.file("l.csv");
  try {
    load_csv_index(o);
    FAIL();
  } catch (const IndexError& e) {
    EXPECT_EQ(e.line(), 4);
  }
  write(d.file("l.csv"), "path,label\na.jpg,1\nb.jpg,0\n");
  const DatasetIndex idx = load_csv_index(o);
  EXPECT_EQ(idx.samples[0].label, 1);
  EXPECT_EQ(idx.samples[1].label, 0);
}

std::string csv_error(const std::string& text) {
  TempDir d;
  write(d.file("l.csv"), text);
  CsvIndexOptions o;
  o.file = d.file("l.csv");
  try {
    load_csv_index(o);
  } catch (const IndexError& e) {
    const std::string what = e.what();
    const std::string prefix = d.path().string() + "/";
    return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
  }
  return "no error";
}

TEST(CelebaIndex, DuplicateIdInAttributeFileNamesBothLines) {
  const std::string part = "image_id,partition\n000001.jpg,0\n000002.jpg,0\n";
  EXPECT_EQ(
      kaggle_error(header() + row("000001.jpg") + row("000002.jpg") + row("000001.jpg"), part),
      "list_attr_celeba.csv:4: error: image id '000001.jpg' listed twice: on line 2 and on "
      "line 4");
  TempDir d;
  Table t = make_table(4);
  t.ids[3] = t.ids[1];
  write_original(d.path(), t, "\n");
  EXPECT_EQ(error_of({d.path().string(), "Male", {}, {}}),
            d.file("list_attr_celeba.txt") +
                ":6: error: image id '000002.jpg' listed twice: on line 4 and on line 6");
}

TEST(CelebaIndex, ByteOrderMarkIsIgnoredInEveryFile) {
  const std::string bom = "\xEF\xBB\xBF";
  const Table t = make_table(10);
  for (bool kaggle : {true, false}) {
    TempDir d;
    kaggle ? write_kaggle(d.path(), t, "\r\n") : write_original(d.path(), t, "\n");
    for (const char* name : {"list_attr_celeba", "list_eval_partition"}) {
      const std::string file = d.file(std::string(name) + (kaggle ? ".csv" : ".txt"));
      std::ifstream in(file, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      in.close();
      write(file, bom + text);
    }
    const DatasetIndex idx = load_celeba_index({d.path().string(), "Male", {}, {}});
    ASSERT_EQ(idx.samples.size(), 10u) << kaggle;
    EXPECT_EQ(idx.samples[0].id, "000001.jpg");
  }
  TempDir d;
  write(d.file("l.csv"), bom + "path,label\na.jpg,1\n");
  CsvIndexOptions o;
  o.file = d.file("l.csv");
  const DatasetIndex idx = load_csv_index(o);
  ASSERT_EQ(idx.samples.size(), 1u);
  EXPECT_EQ(idx.samples[0].id, "a.jpg");
}

TEST(CsvIndex, QuotedFieldsHoldCommasQuotesAndNewlines) {
  TempDir d;
  write(d.file("l.csv"),
        "\"path\",label\r\n\"a,b.jpg\",1\r\n\"say \"\"hi\"\".jpg\",0\r\n"
        "\"two\nlines.jpg\" , \"1\"\r\nlast.jpg,0\r\n");
  CsvIndexOptions o;
  o.file = d.file("l.csv");
  const DatasetIndex idx = load_csv_index(o);
  ASSERT_EQ(idx.samples.size(), 4u);
  EXPECT_EQ(idx.samples[0].id, "a,b.jpg");
  EXPECT_EQ(idx.samples[1].id, "say \"hi\".jpg");
  EXPECT_EQ(idx.samples[2].id, "two\nlines.jpg");
  EXPECT_EQ(idx.samples[2].label, 1);
  EXPECT_EQ(idx.samples[3].origin, "l.csv:6");  // the quoted newline counts as a line
  EXPECT_EQ(csv_error("path,label\na.jpg,1\n\"b.jpg,0\nc.jpg,1\n"),
            "l.csv:3: error: quoted field opened here is never closed");
  EXPECT_EQ(csv_error("path,label\n\"a\"x.jpg,1\n"),
            "l.csv:2: error: unexpected text after a closing quote (a quote inside a quoted field "
            "is written \"\")");
}

TEST(CelebaIndex, QuotedIdsInKaggleFiles) {
  TempDir d;
  std::string attr = header(), part = "image_id,partition\n";
  attr += row("\"000,1.jpg\"");
  part += "\"000,1.jpg\",0\n";
  write(d.file("list_attr_celeba.csv"), attr);
  write(d.file("list_eval_partition.csv"), part);
  const DatasetIndex idx = load_celeba_index({d.path().string(), "Male", {}, {}});
  ASSERT_EQ(idx.samples.size(), 1u);
  EXPECT_EQ(idx.samples[0].id, "000,1.jpg");
}

TEST(CsvIndex, NulByteInPathIsRejectedWithFileAndLine) {
  using namespace std::string_literals;
  EXPECT_EQ(csv_error("path,label\na.jpg,1\nb.jpg\0/../x.jpg,0\n"s),
            "l.csv:3: error: path 'b.jpg\\x00/../x.jpg' contains a NUL byte");
  const std::string part = "image_id,partition\n000001.jpg,0\n";
  EXPECT_EQ(kaggle_error(header() + row("000001.jpg\0x"s), part),
            "list_attr_celeba.csv:2: error: image id '000001.jpg\\x00x' contains a NUL byte");
}

TEST(CsvIndex, OversizedIntegerLabelNamesFileLineAndColumn) {
  EXPECT_EQ(csv_error("path,label\na.jpg,1\nb.jpg,12345678901234567890\n"),
            "l.csv:3: error: column 'label': label '12345678901234567890' is not an integer in "
            "[0, 9223372036854775807]");
}

// Each label is an index into class_names, which lists the distinct values.
TEST(CsvIndex, ClassNamesAreTheDistinctIntegerValues) {
  TempDir d;
  write(d.file("l.csv"), "path,label\na.jpg,2000000000\nb.jpg,0\nc.jpg,2000000000\n");
  CsvIndexOptions o;
  o.file = d.file("l.csv");
  const DatasetIndex idx = load_csv_index(o);
  EXPECT_EQ(idx.class_names, (std::vector<std::string>{"0", "2000000000"}));
  ASSERT_EQ(idx.samples.size(), 3u);
  EXPECT_EQ(idx.samples[0].label, 1);
  EXPECT_EQ(idx.samples[1].label, 0);
  EXPECT_EQ(idx.samples[2].label, 1);
}

}  // namespace
}  // namespace sluice::data
