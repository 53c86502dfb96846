"""Run `flowerclf-train` on TFDS's mock data, with test hooks, for the hermetic tests of distributed training:

    FLOWERCLF_MOCK_EXAMPLES=N python tools/mockrun.py [flowerclf-train options...]

N is the number of mock examples per split (default 12; 0: no mock, the real data of --data_dir). Workers started by
`--local_workers` run this same program with the same environment, so they are mocked and hooked as well. The hooks are patched in here, so
that the code under test has none; they are switched on by the environment:

* `FLOWERCLF_TEST_HOOKS=DIR`: after every training stage (`fit_resumable`), each worker writes
  `DIR/worker<i>-stage<k>.json`: the sha256 of its weights, their absolute sum, its pid, the epochs run and the best
  epoch; and at every epoch's end it appends "pid epoch" to `DIR/epochs-worker<i>.txt`.
* `FLOWERCLF_TEST_EPOCH_SLEEP=S`: sleep S seconds after every epoch (so that a fault test has time to strike).
"""
import contextlib, hashlib, json, os, sys, time
from flowerclf.core import native_noise_filtered
from flowerclf.cli import console_script          # imports no TensorFlow

def install_hooks(folder:str):
    "Patch `fit_resumable` and `EpochLog.on_epoch_end` to record what the tests compare between workers"
    import numpy as np
    import flowerclf.training as training          # importing TensorFlow is fine: creating an operation before the strategy is not
    me, stage = training.cluster_from_env().index, [0]
    fit, epoch_end = training.fit_resumable, training.EpochLog.on_epoch_end
    def recorded_fit(model, *args, **kwargs):
        result = fit(model, *args, **kwargs)
        weights = model.get_weights()
        digest = hashlib.sha256(b''.join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()
        record = {'sha256': digest, 'abs_sum': float(sum(np.abs(w).sum() for w in weights)), 'pid': os.getpid(),
                  'epochs_run': result['epochs_run'], 'best_epoch': result['best_epoch']}
        with open(os.path.join(folder, f'worker{me}-stage{stage[0]}.json'), 'w') as f: json.dump(record, f)
        stage[0] += 1
        return result
    def recorded_epoch_end(self, epoch, logs=None):
        epoch_end(self, epoch, logs)
        with open(os.path.join(folder, f'epochs-worker{me}.txt'), 'a') as f: f.write(f'{os.getpid()} {epoch}\n')
        time.sleep(float(os.environ.get('FLOWERCLF_TEST_EPOCH_SLEEP', 0)))
    training.fit_resumable, training.EpochLog.on_epoch_end = recorded_fit, recorded_epoch_end

if __name__ == '__main__':
    n = int(os.environ.get('FLOWERCLF_MOCK_EXAMPLES', 12))
    with native_noise_filtered():                 # as the console script does, from before TensorFlow loads
        if os.environ.get('FLOWERCLF_TEST_HOOKS'): install_hooks(os.environ['FLOWERCLF_TEST_HOOKS'])
        import tensorflow_datasets as tfds
        with tfds.testing.mock_data(num_examples=n) if n else contextlib.nullcontext():
            console_script('flowerclf.cli:train_cli', 'flowerclf-train')
