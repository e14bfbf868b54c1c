"""The scripted expert (issue 6): task scripts of primitives (:mod:`.scripts`), planning
(:mod:`.planning`: IK, OMPL RRT-Connect, time-parameterization), the ROS client that executes
them (:mod:`.client`), MCAP recording (:mod:`.recorder`) and the success table (:mod:`.eval`).
Modules import lazily; ``planning`` and ``scripts`` need no ROS."""
