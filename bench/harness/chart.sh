# shellcheck shell=bash
# Sourced by scripts/bench.sh: the PNG chart of the 64 B round-trip distribution per path.
# Input: lines "series<TAB>percentile<TAB>µs" from every accepted sockperf run; the chart shows,
# per series and percentile, the median over repetitions.

# Medians per (series, percentile) -> one data file per series, "percentile µs" sorted.
latency_medians() {  # latency_medians LATENCY_TSV OUT_DIR -> prints "file<TAB>series" per series
  local input=$1 dir=$2
  sort -t $'\t' -k1,1 -k2,2g -k3,3g "$input" | awk -F '\t' -v dir="$dir" '
    function flush() {
      if (n == 0) return
      m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      if (!(series in file)) {
        file[series] = dir "/series" (++count) ".dat"
        printf "%s\t%s\n", file[series], series
      }
      print pct, m >> file[series]
      n = 0
    }
    { if ($1 != series || $2 != pct) { flush(); series = $1; pct = $2 } v[++n] = $3 }
    END { flush() }'
}

# Writes the PNG; x is the percentile on a "nines" scale (1/(1-p)), y the round trip in µs.
write_latency_chart() {  # write_latency_chart LATENCY_TSV PNG TITLE
  local input=$1 png=$2 title=$3 dir plot="" file series
  [[ -s "$input" ]] || { echo "bench: no latency samples, no chart" >&2; return 1; }
  dir=$(mktemp -d "$WORK/chart.XXXXXX")
  while IFS=$'\t' read -r file series; do
    plot+="${plot:+, }'$file' using (1/(1-\$1/100)):2 with linespoints title '$series'"
  done < <(latency_medians "$input" "$dir")
  gnuplot <<EOF
set terminal png size 1000,600
set output '$png'
set title '$title'
set logscale x
set logscale y
set xlabel 'percentile'
set ylabel 'round trip (us)'
set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)
set key top left
set grid
plot $plot
EOF
}
