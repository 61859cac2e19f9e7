#include "golden.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace golden {

long Field::size() const {
  long n = 1;
  for (long d : shape) n *= d;
  return n;
}

const Field& Case::at(const std::string& key) const {
  auto it = fields.find(key);
  if (it == fields.end()) throw std::runtime_error("case " + kernel + " " + name + ": missing field '" + key + "'");
  return it->second;
}

double Case::scalar(const std::string& key) const {
  const Field& f = at(key);
  if (f.values.size() != 1) throw std::runtime_error("case " + name + ": field '" + key + "' is not a scalar");
  return f.values[0];
}

std::vector<float> Case::f32(const std::string& key) const {
  const Field& f = at(key);
  return std::vector<float>(f.values.begin(), f.values.end());
}

std::vector<unsigned char> Case::u8(const std::string& key) const {
  const Field& f = at(key);
  std::vector<unsigned char> out;
  out.reserve(f.values.size());
  for (double v : f.values) out.push_back(static_cast<unsigned char>(v));
  return out;
}

std::vector<Case> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open golden file " + path);
  std::vector<Case> cases;
  Case* current = nullptr;
  bool header = false;
  std::string line;
  int line_no = 0;
  auto error = [&](const std::string& what) { throw std::runtime_error(path + ":" + std::to_string(line_no) + ": " + what); };
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream ss(line);
    std::string first;
    if (!(ss >> first) || first[0] == '#') continue;
    if (!header) {
      int version = 0;
      if (first != "facekd-golden" || !(ss >> version) || version != 1) error("expected 'facekd-golden 1'");
      header = true;
    } else if (first == "case") {
      if (current) error("'case' inside a case");
      cases.emplace_back();
      current = &cases.back();
      if (!(ss >> current->kernel >> current->name)) error("expected 'case <kernel> <name>'");
    } else if (first == "end") {
      if (!current) error("'end' outside a case");
      current = nullptr;
    } else {
      if (!current) error("field outside a case");
      Field f;
      if (!(ss >> f.dtype)) error("missing dtype");
      if (f.dtype != "i32" && f.dtype != "f32" && f.dtype != "f64" && f.dtype != "u8") error("unknown dtype " + f.dtype);
      std::string tok;
      while (ss >> tok && tok != ":") f.shape.push_back(std::strtol(tok.c_str(), nullptr, 10));
      if (tok != ":") error("missing ':'");
      while (ss >> tok) f.values.push_back(std::strtod(tok.c_str(), nullptr));
      if (static_cast<long>(f.values.size()) != f.size()) error("field " + first + ": value count does not match shape");
      current->fields[first] = std::move(f);
    }
  }
  if (current) error("missing 'end'");
  if (!header) error("empty file");
  return cases;
}

}  // namespace golden
