"""The benchmark layer: planning a bench (:mod:`.plan`), running it (:mod:`.runner`, in worker
processes with :mod:`.workers`), its results store (:mod:`.store`), and the leaderboard (:mod:`.leaderboard`, :mod:`.html`)."""
