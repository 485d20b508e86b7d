# The chart of bench/results/latest.png: one bar per target, as the share of
# the target reached (100% = exactly met, more is better; capped at 300%).
# bench.py passes datafile, outfile and n (the number of bars).
set terminal pngcairo size 1100,600 font "sans,10"
set output outfile
set title "closeloop against its targets (each bar: the measurement as % of its target; ratios vs nginx/curl measured in the same run)"
set style fill solid 0.85 border -1
set boxwidth 0.6
set yrange [0:340]
set xrange [-0.6:n-0.4]
set ylabel "% of target reached"
set xtics rotate by -25 left nomirror
set ytics nomirror
set grid ytics
set key off
set style textbox opaque noborder
set bmargin 8
set rmargin 8
set arrow from -0.6,100 to n-0.4,100 nohead back lc rgb "black" dt 2 lw 2
set label "target" at n-0.4,100 offset 1,0
plot datafile using 1:2:($5 > 0 ? 0x2ca02c : 0xd62728):xtic(3) with boxes lc rgb variable, \
     '' using 1:($2 + 10):4 with labels boxed font ",8"
