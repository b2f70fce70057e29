# Rewrites a ZeRO-1/2 tag folder whose flat-group padding exceeds a partition into what DeepSpeed 0.14.4's
# DeepSpeedZeroOptimizer saves for it: the group's whole padding recorded on the last data rank and 0 on every other
# (its groups_padding), each rank saving group[:numel - padding] of its fp32 partition (its
# _get_groups_without_padding: the ranks before the last keep the padding zeros they hold; the last rank's slice end
# is negative, a Python slice of what is left). ckptmpi's ZeRO writer spreads the padding over the ranks that hold
# it instead. Usage: TAG_FOLDER. Prints "OK <world> <partition> <padding>".
import os, sys, torch
tag = sys.argv[1]
files = sorted((f for f in os.listdir(tag) if f.endswith('_optim_states.pt')), key=lambda f: int(f.split('_rank_')[1].split('_')[0]))
world = len(files)
sds = [torch.load(os.path.join(tag, f)) for f in files]
ps = sds[0]['optimizer_state_dict']['single_partition_of_fp32_groups'][0].numel() + sds[0]['optimizer_state_dict']['group_paddings'][0]
total = sum(sd['optimizer_state_dict']['group_paddings'][0] for sd in sds)
assert total > ps, (total, ps)
for r, (f, sd) in enumerate(zip(files, sds)):
    o = sd['optimizer_state_dict']
    lean = o['single_partition_of_fp32_groups'][0]
    full = torch.cat([lean.detach(), torch.zeros(ps - lean.numel(), dtype=lean.dtype)])
    pad = total if r == world - 1 else 0
    o['group_paddings'] = [pad]
    o['single_partition_of_fp32_groups'] = [full[:ps - pad].clone().requires_grad_(lean.requires_grad)]
    torch.save(sd, os.path.join(tag, f))
print(f'OK {world} {ps} {total}')
