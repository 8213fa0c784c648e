// How ferryctl prints what it has: every verb builds JSON first, then `-o table|json|yaml` picks
// the form, so the three always show the same data.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace ferry::cli {

// Rows of cells padded to the widest cell of each column, like kubectl's tables.
std::string Columns(const std::vector<std::vector<std::string>>& rows);
// JSON as YAML: objects keep their key order, strings are always quoted.
std::string RenderYaml(const nlohmann::json& value);

// A (TITLE, json key) column of a table of JSON rows.
using Column = std::pair<std::string, std::string>;
// A cell as a person reads it: strings as they are ("-" when empty), booleans yes/no, null "-".
std::string CellText(const nlohmann::json& value);

// Prints `document` as `format` (json | yaml | table); a table shows `rows` (an array of objects,
// usually part of the document) under `columns`. Returns false for an unknown format.
bool PrintAs(const std::string& format, const nlohmann::json& document, const nlohmann::json& rows,
             const std::vector<Column>& columns, std::ostream& out);

}  // namespace ferry::cli
