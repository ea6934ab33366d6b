"""The benchmark layer: planning a bench (:mod:`.plan`), running it (:mod:`.runner`), its
results store (:mod:`.store`), and the leaderboard (:mod:`.leaderboard`, :mod:`.html`)."""
