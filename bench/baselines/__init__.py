"""Baselines for bench/bench_card_finder.py: the card finder frozen as of 2026-12-06
(`card_v1`) and a plain OpenCV contour finder (`contour_finder`). Not shipped, not tuned."""
