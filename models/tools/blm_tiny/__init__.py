"""blm-tiny: BLM1's two-stage recipe at laptop scale (Stage I backbone, Stage II bridge + DiT head)."""
