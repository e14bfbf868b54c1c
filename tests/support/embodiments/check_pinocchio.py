"""Cross-checks our forward kinematics against pinocchio on the generated URDF.

Input (JSON file, argv[2]): {"arm_joints": [...], "samples": [{"q": [...], "tcp": [16 floats,
row-major 4x4], "frames": [[16 floats], ...]}]}. argv[1] is the URDF.
Prints one JSON line: the largest position and rotation differences over all samples.
"""
import json
import sys

import numpy as np
import pinocchio as pin


def main() -> None:
    urdf, cases = sys.argv[1], json.load(open(sys.argv[2]))
    model = pin.buildModelFromUrdf(urdf)
    data = model.createData()
    ids = [model.getJointId(name) for name in cases["arm_joints"]]
    missing = [n for n, i in zip(cases["arm_joints"], ids) if i >= model.njoints]
    if missing:
        raise SystemExit(f"joints missing from the URDF: {missing}")
    tcp_id = model.getFrameId("tcp")
    max_pos = max_rot = 0.0
    for s in cases["samples"]:
        q = pin.neutral(model)
        for jid, v in zip(ids, s["q"]):
            q[model.joints[jid].idx_q] = v
        pin.forwardKinematics(model, data, q)
        pin.updateFramePlacements(model, data)
        pairs = [(data.oMf[tcp_id], s["tcp"])] + [(data.oMi[j], f) for j, f in zip(ids, s["frames"])]
        for placement, ours in pairs:
            m = np.array(ours).reshape(4, 4)
            max_pos = max(max_pos, float(np.abs(placement.translation - m[:3, 3]).max()))
            max_rot = max(max_rot, float(np.abs(placement.rotation - m[:3, :3]).max()))
    print(json.dumps({"max_position_error": max_pos, "max_rotation_error": max_rot,
                      "samples": len(cases["samples"]), "pinocchio": pin.__version__,
                      "nq": model.nq}))


if __name__ == "__main__":
    main()
