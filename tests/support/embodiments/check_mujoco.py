"""Loads the generated MJCF in MuJoCo, compares site `tcp` and the link bodies with our
forward kinematics, and runs a scripted pick of a 4 cm cube through the actuators only.

argv[1]: the MJCF; argv[2]: JSON {"arm_joints", "gripper_joint", "samples" (as for
check_pinocchio.py), "pick": {"descent": [q, ...] (pregrasp to grasp), "open": g,
"closed": g, "cube": [x, y, z]}}. Prints one JSON line with the errors and the pick's outcome.
"""
import json
import os
import sys
import tempfile

import mujoco
import numpy as np


def fk_errors(model, cases):
    data = mujoco.MjData(model)
    adr = [model.joint(n).qposadr[0] for n in cases["arm_joints"]]
    site = model.site("tcp").id
    bodies = [model.body(f"link_{i + 1}").id for i in range(len(adr))]
    max_pos = max_rot = 0.0
    for s in cases["samples"]:
        data.qpos[:] = 0
        for a, v in zip(adr, s["q"]):
            data.qpos[a] = v
        mujoco.mj_kinematics(model, data)
        pairs = [(data.site_xpos[site], data.site_xmat[site], s["tcp"])]
        pairs += [(data.xpos[b], data.xmat[b], f) for b, f in zip(bodies, s["frames"])]
        for pos, mat, ours in pairs:
            m = np.array(ours).reshape(4, 4)
            max_pos = max(max_pos, float(np.abs(pos - m[:3, 3]).max()))
            max_rot = max(max_rot, float(np.abs(mat.reshape(3, 3) - m[:3, :3]).max()))
    return max_pos, max_rot


def pick(robot_xml, cases):
    p = cases["pick"]
    scene = f"""<mujoco>
  <include file="{os.path.basename(robot_xml)}"/>
  <option timestep="0.002"/>
  <worldbody>
    <geom name="table" type="plane" size="1 1 0.01" rgba="0.6 0.5 0.4 1"/>
    <body name="cube" pos="{p['cube'][0]} {p['cube'][1]} {p['cube'][2]}">
      <freejoint/>
      <geom type="box" size="0.02 0.02 0.02" density="1000" friction="1 0.01 0.0002" condim="4" rgba="0.8 0.1 0.1 1"/>
    </body>
  </worldbody>
</mujoco>"""
    path = os.path.join(os.path.dirname(robot_xml), "pick_scene.xml")
    with open(path, "w") as f:
        f.write(scene)
    model = mujoco.MjModel.from_xml_path(path)
    data = mujoco.MjData(model)
    arm = [model.actuator(n).id for n in cases["arm_joints"]]
    grip = model.actuator(cases["gripper_joint"]).id
    adr = [model.joint(n).qposadr[0] for n in cases["arm_joints"]]
    gadr = model.joint(cases["gripper_joint"]).qposadr[0]
    for a, v in zip(adr, p["descent"][0]):
        data.qpos[a] = v
    data.qpos[gadr] = p["open"]
    mujoco.mj_forward(model, data)
    cube = model.body("cube").id
    max_track = 0.0

    def run(q_from, q_to, g, seconds, track=False):
        nonlocal max_track
        steps = int(seconds / model.opt.timestep)
        for k in range(steps):
            s = min(1.0, (k + 1) / steps)
            for i, (x0, x1) in enumerate(zip(q_from, q_to)):
                data.ctrl[arm[i]] = x0 + s * (x1 - x0)
            data.ctrl[grip] = g
            mujoco.mj_step(model, data)
            if track:
                err = max(abs(data.qpos[adr[i]] - data.ctrl[arm[i]]) for i in range(len(arm)))
                max_track = max(max_track, err)

    path = p["descent"]
    pregrasp, grasp = path[0], path[-1]
    run(pregrasp, pregrasp, p["open"], 0.5)
    for a, b in zip(path, path[1:]):
        run(a, b, p["open"], 0.15, track=True)
    run(grasp, grasp, p["open"], 0.3)
    run(grasp, grasp, p["closed"], 1.0)
    z_before = float(data.xpos[cube][2])
    for a, b in zip(path[::-1], path[-2::-1]):
        run(a, b, p["closed"], 0.15, track=True)
    run(pregrasp, pregrasp, p["closed"], 0.5)
    return {"cube_z_before_lift": z_before, "cube_z_after_lift": float(data.xpos[cube][2]),
            "max_tracking_error": max_track, "gripper_after": float(data.qpos[gadr])}


def main() -> None:
    robot_xml, cases = sys.argv[1], json.load(open(sys.argv[2]))
    model = mujoco.MjModel.from_xml_path(robot_xml)
    max_pos, max_rot = fk_errors(model, cases)
    out = {"max_position_error": max_pos, "max_rotation_error": max_rot,
           "samples": len(cases["samples"]), "mujoco": mujoco.__version__,
           "cameras": [model.camera(i).name for i in range(model.ncam)],
           "nu": model.nu}
    if "pick" in cases:
        out["pick"] = pick(robot_xml, cases)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
