"""The commands on top of the node and the engine: ``sam2-ros`` (:mod:`.cli`) with ``demo``,
``export``, ``bag`` (:mod:`.bag`), ``bags`` (:mod:`.fleet`) and ``bench`` (:mod:`.bench`), and
the harness they and the tests share (:mod:`.harness`)."""
