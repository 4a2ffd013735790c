# FTAN-B on open-cd's model-zoo protocol (random 256 crops of the 1024
# originals, batch 8, 40k iterations, whole-image test), so its numbers sit
# beside open-cd's zoo tables.
_base_ = [
    '../_base_/models/ftan_b.py', '../_base_/datasets/levir_cd_zoo.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py'
]
