// accelerate_config.yaml for an exported TRL project: the shapes TRL ships in trl/accelerate_configs (single GPU,
// multi-GPU DDP, DeepSpeed ZeRO-2/3, FSDP2 with transformer-based wrapping), sized to the requested GPUs and nodes.
import type { AccelerateStrategy, TrlExportOptions } from './trlConfig';

/** The accelerate config mapping (ClusterConfig keys; deepspeed_config / fsdp_config keys as `accelerate launch` reads them). */
export function accelerateConfig(opts: TrlExportOptions, mixedPrecision: 'no' | 'fp16' | 'bf16'): Record<string, unknown> {
  const s: AccelerateStrategy = opts.strategy;
  const distributed = s === 'single_gpu' ? 'NO' : s === 'multi_gpu' ? 'MULTI_GPU' : s === 'fsdp2' ? 'FSDP' : 'DEEPSPEED';
  const cfg: Record<string, unknown> = {
    compute_environment: 'LOCAL_MACHINE',
    debug: false,
    distributed_type: distributed,
    downcast_bf16: 'no',
  };
  if (s === 'zero2' || s === 'zero3') {
    cfg['deepspeed_config'] = {
      deepspeed_multinode_launcher: 'standard',
      offload_optimizer_device: 'none',
      offload_param_device: 'none',
      zero3_init_flag: s === 'zero3',
      ...(s === 'zero3' ? { zero3_save_16bit_model: true } : {}),
      zero_stage: s === 'zero3' ? 3 : 2,
    };
  }
  if (s === 'fsdp2') {
    cfg['fsdp_config'] = {
      fsdp_activation_checkpointing: false,
      fsdp_auto_wrap_policy: 'TRANSFORMER_BASED_WRAP',
      fsdp_cpu_ram_efficient_loading: true,
      fsdp_offload_params: false,
      fsdp_reshard_after_forward: true,
      fsdp_state_dict_type: 'FULL_STATE_DICT',
      fsdp_version: 2,
    };
  }
  if (s === 'single_gpu' || s === 'multi_gpu') cfg['gpu_ids'] = 'all';
  Object.assign(cfg, {
    machine_rank: 0,
    main_training_function: 'main',
    mixed_precision: mixedPrecision,
    num_machines: s === 'single_gpu' ? 1 : opts.nodes,
    num_processes: s === 'single_gpu' ? 1 : opts.gpus * opts.nodes,
    rdzv_backend: 'static',
    same_network: true,
    tpu_env: [],
    tpu_use_cluster: false,
    tpu_use_sudo: false,
    use_cpu: false,
  });
  return cfg;
}
