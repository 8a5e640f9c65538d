"""Self-supervised pretraining objectives. Each is a task run by the same trainer as supervised work
(checkpoints, exact resume, progress); `tixel pretrain CONFIG` is `tixel train` on such a config."""
