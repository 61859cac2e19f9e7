// Reader of the golden-vector files in tests/golden/ (format: tests/golden/README.md).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace golden {

struct Field {
  std::string dtype;          // i32 | f32 | f64 | u8
  std::vector<long> shape;    // empty for a scalar
  std::vector<double> values; // row-major; exact for every dtype used (f32 printed with %.9g)
  long size() const;
};

struct Case {
  std::string kernel;
  std::string name;
  std::map<std::string, Field> fields;
  bool has(const std::string& key) const { return fields.count(key) != 0; }
  const Field& at(const std::string& key) const;  // throws std::runtime_error naming the key
  double scalar(const std::string& key) const;
  std::vector<float> f32(const std::string& key) const;
  std::vector<unsigned char> u8(const std::string& key) const;
};

// Parses one file; throws std::runtime_error with file:line on malformed input.
std::vector<Case> read_file(const std::string& path);

}  // namespace golden
