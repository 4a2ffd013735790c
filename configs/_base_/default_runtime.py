# Runtime shared by every FTAN config (mirrors open-cd's default_runtime.py).
custom_imports = dict(imports=['ftan_opencd'], allow_failed_imports=False)
default_scope = 'opencd'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='CDLocalVisBackend')]
visualizer = dict(
    type='CDLocalVisualizer',
    vis_backends=vis_backends,
    name='visualizer',
    alpha=1.0)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = dict(type='mmseg.SegTTAModel')
