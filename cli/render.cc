#include "cli/render.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <ostream>

namespace ferry::cli {

using nlohmann::json;

namespace {

void EmitYaml(YAML::Emitter& e, const json& v) {
  if (v.is_object()) {
    e << YAML::BeginMap;
    for (const auto& [key, value] : v.items()) {
      e << YAML::Key << key << YAML::Value;
      EmitYaml(e, value);
    }
    e << YAML::EndMap;
  } else if (v.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& item : v) EmitYaml(e, item);
    e << YAML::EndSeq;
  } else if (v.is_string()) {
    e << YAML::DoubleQuoted << v.get<std::string>();
  } else if (v.is_null()) {
    e << YAML::Null;
  } else {
    e << v.dump();  // numbers and booleans print the same in both
  }
}

}  // namespace

std::string Columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string RenderYaml(const json& value) {
  YAML::Emitter e;
  EmitYaml(e, value);
  return std::string(e.c_str()) + "\n";
}

std::string CellText(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

bool PrintAs(const std::string& format, const json& document, const json& rows, const std::vector<Column>& columns,
             std::ostream& out) {
  if (format == "json") {
    out << document.dump(2) << "\n";
  } else if (format == "yaml") {
    out << RenderYaml(document);
  } else if (format == "table") {
    std::vector<std::vector<std::string>> table;
    std::vector<std::string> header;
    for (const auto& [title, key] : columns) header.push_back(title);
    table.push_back(std::move(header));
    for (const auto& row : rows) {
      std::vector<std::string> line;
      for (const auto& [title, key] : columns) line.push_back(CellText(row.value(key, json(nullptr))));
      table.push_back(std::move(line));
    }
    out << Columns(table);
  } else {
    return false;
  }
  return true;
}

}  // namespace ferry::cli
