// The dashboard's single page: HTML, CSS and plain JavaScript with inline SVG, embedded in the
// binary (no external resources), so it works on a machine without internet access.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ferry::cli {

// The page, with `initial_graph` (the latest /api/graph answer) inlined so it draws at once;
// it then fetches /api/graph every `interval_ms` and redraws.
std::string DashboardPageHtml(const nlohmann::json& initial_graph, int interval_ms);

}  // namespace ferry::cli
