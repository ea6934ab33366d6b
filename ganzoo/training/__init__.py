"""The training layer: the one trainer (:mod:`.trainer`), the interface it offers callbacks
(:mod:`.callbacks`), checkpoints (:mod:`.checkpoint`), sinks for named scalars (:mod:`.sinks`,
:mod:`.wandb_sink`) and the pictures it draws (:mod:`.pictures`). It never knows a model's
name, and writes only through the run folder it is handed."""
