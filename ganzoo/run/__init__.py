"""The run layer: a run's folder (:mod:`.folder`), its configuration (:mod:`.config`),
building its dataset and model (:mod:`.build`), training it new or resumed (:mod:`.session`),
and a trained run as an object (:mod:`.run`). Evaluation and benchmarks read runs through here."""
