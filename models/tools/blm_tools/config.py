"""Model sizes, all from one config so any size can be built and exported."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class BackboneConfig:
    """The stand-in backbone: same output contract as the real one (layer-k hidden states + mask)."""

    image_size: int = 32  # square input after preprocessing (px)
    patch: int = 8  # patch size (px); tokens per camera = (image_size / patch)^2
    n_cameras: int = 2  # front, wrist
    vocab_size: int = 260  # byte tokenizer: 256 bytes + pad/bos/eos/unk
    max_text: int = 32  # tokens, padded
    d: int = 64  # hidden size D
    n_heads: int = 4
    ffn: int = 128
    n_layers: int = 2
    layer_k: int = 2  # hidden states after this many layers are the intent source

    @property
    def tokens_per_camera(self) -> int:
        return (self.image_size // self.patch) ** 2

    @property
    def seq_len(self) -> int:
        return self.n_cameras * self.tokens_per_camera + self.max_text


@dataclass
class BridgeConfig:
    """Perceiver resampler: learned latent queries cross-attending to the hidden states."""

    n_intent: int = 8
    d_latent: int = 64
    d_intent: int = 64
    n_heads: int = 4
    ffn: int = 128
    n_layers: int = 2


@dataclass
class HeadConfig:
    """GR00T-N1.5-style flow-matching DiT policy head."""

    horizon: int = 16
    action_dim: int = 32  # padded, shared across embodiments
    state_dim: int = 64  # padded, shared across embodiments
    n_embodiments: int = 4
    d_model: int = 48
    n_heads: int = 4
    ffn: int = 96
    n_layers: int = 2
    enc_hidden: int = 48  # per-embodiment encoder/decoder hidden size
    time_scale: float = 1000.0  # flow time t in [0, 1] is scaled by this before the sinusoidal embedding
    # What the action decoder predicts. "velocity" (GR00T): v = action - noise, the graph's output as
    # is. "sample": the clean chunk a, as the state (through a learned per-embodiment state->action
    # map) plus the decoder's offset, with the noisy actions entering the encoder scaled by t (at
    # t = 0 they carry nothing about a); the graph returns v = (a - x_t) / (1 - t), the velocity of
    # the linear path through x_t that ends at a, so the graph's contract is the same.
    prediction: str = "velocity"
    # With prediction = "sample": "learned" trains the state -> action map from the identity;
    # "identity" keeps it fixed, so the decoder predicts only the chunk's offset from the state.
    # Trained, blm-tiny's map drifted to gains of 0.78-1.03 (off-diagonal up to 0.17) that the
    # decoder then undid sample by sample; held at the identity, its held-out arm error fell from
    # 0.064 to 0.059 (normalized, over the chunk).
    state_skip: str = "learned"
    # With prediction = "sample": the decoder's offset is multiplied by a fixed per-embodiment,
    # per-horizon-step, per-dimension scale (`PolicyHead.offset_scale`, set from the data's RMS
    # offset by `set_offset_scale`), so the network regresses offsets of order one. Min/max
    # statistics span the whole workspace, and a chunk's first point lies about 0.03 normalized
    # units from the state: at that size the decoder's output error is as large as the motion.
    offset_scale: bool = False
    # The state also carries the arm joints' measured velocities (JointState.velocity), in
    # normalized units per second, at padded slots VELOCITY_SLOT.. (one per joint, unused by every
    # arm): the commands lead the measured joints by the arm's tracking lag, which only the motion
    # shows. The manifest's `state.velocity` tells the runtime where and how to feed them.
    state_motion: bool = False
    # What an action row is. "absolute_joint": the arm joints and the gripper. "ee_pose": the TCP
    # pose in the world frame (position, then the rotation's first two columns) and the gripper,
    # with the state's TCP pose (forward kinematics of the joints) at the same padded slots, so the
    # identity state -> action map makes each chunk an offset from where the TCP is. A grasp target
    # is then the object's place plus a constant, which the intent carries, instead of each arm's
    # inverse kinematics of it; the runtime solves the IK (manifest action_space "ee_pose").
    action_space: str = "absolute_joint"
    # With action_space = "ee_pose": the head reads where each object class is from the intent
    # (attention pooling per class, trained by the locate loss) and feeds the state encoder each
    # object's offset from the TCP (normalized TCP position units) at padded state slots
    # OBJECT_SLOT.., so a grasp target is a difference the head can copy rather than a place it has
    # to work out. Computed inside the denoiser graph: the runtime's contract does not change.
    object_offsets: bool = False
    n_objects: int = 10  # object classes the locate head places (blm_tiny.qa.SEG_CLASSES)
    # The trunk reads no arm position: the state encoder's input is multiplied by a fixed
    # per-embodiment mask (PolicyHead.state_view) that zeroes the arm joints, their velocities and
    # the TCP position, keeping the gripper and the TCP's rotation. The state still anchors each
    # chunk through the state -> action map, so the offset, where the arm has to go from here, can
    # only come from the images. Behaviour cloning from proprioception otherwise learns to continue
    # the demonstrated path it recognizes from the state (the head ignored the object offsets it
    # was given; `stage2 sensitivity`) and wanders off with it once its own motion leaves that path.
    state_blind: bool = False
    # The head reads two intents, the goal's and the current one: the bridge's tokens for the first
    # frames of the goal (the scene before the arm moves, encoded once per goal) followed by those
    # of the current frames, each half marked by a learned segment vector (PolicyHead.intent_segment).
    # The goal's frames show every object unoccluded and unmoved, where the current ones show what
    # the arm has done since. The denoiser's intent input is then twice the bridge's tokens long, and
    # the manifest's intent.frames ["goal", "current"] tells the runtime to compose it.
    goal_intent: bool = False


@dataclass
class ModelConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    def to_dict(self) -> dict:
        return asdict(self)
