"""Fine-tuning experiments: linear-probe head on cached features, then the whole MobileNetV2 0.35 fine-tuned on
random crops at one input size; scored on the validation split (one view and TTA over VIEWS).

python tools/explore/ft.py --size 160 --epochs 20 --lr 3e-4 ...
"""
import sys, argparse; sys.path.insert(0, __import__('os').path.dirname(__file__))
from common import *
from flowerclf.training import build_head, fit_resumable
from flowerclf.pipeline import random_crop_box, resize_square

p = argparse.ArgumentParser()
p.add_argument('--size', type=int, default=160)
p.add_argument('--epochs', type=int, default=20)
p.add_argument('--lr', type=float, default=3e-4)          # peak lr (whole net)
p.add_argument('--head_lr_mult', type=float, default=1.0)  # lr multiplier of the head (via gradient scaling)
p.add_argument('--bs', type=int, default=32)
p.add_argument('--ls', type=float, default=0.1)            # label smoothing
p.add_argument('--area', type=float, default=0.5)          # random crop min area
p.add_argument('--mixup', type=float, default=0.0)
p.add_argument('--cutmix', type=float, default=0.0)
p.add_argument('--wd', type=float, default=0.0)            # AdamW decoupled weight decay
p.add_argument('--dropout', type=float, default=0.2)
p.add_argument('--warmup', type=float, default=1.0)        # warm-up epochs
p.add_argument('--sched', default='cosine')                # cosine | const
p.add_argument('--lp', default='c2r4')                     # linear-probe init: none | c2r4 (centre+mirror+4 crops)
p.add_argument('--lp_l2', type=float, default=1e-4)
p.add_argument('--opt', default='adam')                    # adam | sgd
p.add_argument('--train_on', default='train')
p.add_argument('--val_every', type=int, default=1)         # val one-view every n epochs (0: never)
p.add_argument('--eval_sizes', default='')                 # extra sizes for val eval, e.g. 192,224
p.add_argument('--ema', type=float, default=0.0)           # EMA decay of weights per step (0: none)
p.add_argument('--distill', default='')                    # npz with soft targets for train images (probs [n,102])
p.add_argument('--distill_w', type=float, default=0.5)
p.add_argument('--llrd', type=float, default=1.0)         # layer-wise lr decay per block (1: none)
p.add_argument('--freeze_blocks', type=int, default=0)     # freeze the first k of the 19 backbone blocks
p.add_argument('--rot', type=float, default=0.0)           # random rotation, up to this many degrees either way
p.add_argument('--vflip', action='store_true')             # random vertical flips too
p.add_argument('--l2sp', type=float, default=0.0)          # L2-SP: penalty on the distance of the backbone's weights from the pretrained ones
p.add_argument('--sam', type=float, default=0.0)           # sharpness-aware minimisation radius rho (0: none)
p.add_argument('--color', type=float, default=0.0)         # photometric jitter: brightness ±c/2, contrast and saturation ×(1±c)
p.add_argument('--seed', type=int, default=0)
p.add_argument('--tag', default='')
p.add_argument('--save', action='store_true')
a = p.parse_args()
if a.sam and (a.llrd != 1.0 or a.freeze_blocks): p.error('--sam does not combine with --llrd or --freeze_blocks')
tag = a.tag or f"ft{a.size}_e{a.epochs}_lr{a.lr}_bs{a.bs}_ls{a.ls}_a{a.area}_mu{a.mixup}_cm{a.cutmix}"
S = a.size
keras.utils.set_random_seed(a.seed)
t0 = time.time()

# ---- data: decoded images in memory
ds = datasets()
splits_train = ['train'] if a.train_on == 'train' else ['train', 'validation']
train_ds = ds[splits_train[0]]
for s in splits_train[1:]: train_ds = train_ds.concatenate(ds[s])
n_train = 1020 * len(splits_train)
train_ds = train_ds.cache()

# ---- linear probe init on cached features
head_w = None
if a.lp != 'none':
    fx, fy = [], []
    for s in splits_train:
        f, y = feats(s, S, VIEWS[:2], 4)
        fx.append(f.reshape(-1, 1280)); fy.append(np.tile(y, len(f)))
    fx, fy = np.concatenate(fx), np.concatenate(fy)
    vf, vy = feats('validation', S, VIEWS, 0)
    head = build_head(1280, 102, a.dropout, a.lp_l2, 1e-3, seed=a.seed)
    if a.train_on == 'train':
        run = fit_resumable(head, fx, fy, validation_data=(vf[0], vy), epochs=100, patience=8, batch_size=128)
        lp_epochs = run['best_epoch']
        lp_val = top1(head.predict(vf[0], verbose=0), vy)
    else:
        fit_resumable(head, fx, fy, epochs=30, batch_size=128); lp_epochs = 30; lp_val = float('nan')
    head_w = head.get_layer('classifier').get_weights()
    print(f"linear probe: {lp_epochs} epochs, val {lp_val:.4f}, {time.time()-t0:.0f}s", flush=True)
t_lp = time.time() - t0

# ---- model
import re
def block_of(name):
    "0 Conv, 1 expanded_conv, 2..17 expanded_conv_1..16, 18 Conv_1, 19 head"
    if 'MobilenetV2/' not in name: return 19
    if '/Conv_1/' in name: return 18
    if '/Conv/' in name: return 0
    m = re.search(r'expanded_conv(?:_(\d+))?/', name)
    return 1 + int(m.group(1) or 0)

def predictions_and_grads(model, x, y, vs):
    "The model's predictions on a training batch, and the gradients of its compiled loss for the variables `vs`"
    with tf.GradientTape() as tape:
        p = model(x, training=True)
        loss = model.compiled_loss(y, p, regularization_losses=model.losses)
    return p, tape.gradient(loss, vs)

class GroupModel(keras.Model):
    "Per-block learning rates (one optimizer per distinct multiplier); frozen blocks get no update"
    groups = None
    def train_step(self, data):
        x, y = data
        vs = [v for g in self.groups for v in g[1]]
        p, grads = predictions_and_grads(self, x, y, vs)
        i = 0
        for opt, gv in self.groups:
            opt.apply_gradients(zip(grads[i:i + len(gv)], gv)); i += len(gv)
        self.compiled_metrics.update_state(y, p)
        return {m.name: m.result() for m in self.metrics}

class SAMModel(keras.Model):
    "Sharpness-aware minimisation (Foret et al. 2021): the gradient taken at the worst point within radius rho"
    def train_step(self, data):
        x, y = data
        vs = self.trainable_variables
        _, g = predictions_and_grads(self, x, y, vs)
        scale = a.sam / (tf.linalg.global_norm(g) + 1e-12)
        es = [gi * scale for gi in g]
        for v, e in zip(vs, es): v.assign_add(e)
        p, g = predictions_and_grads(self, x, y, vs)                # the gradient at the perturbed weights
        for v, e in zip(vs, es): v.assign_sub(e)
        self.optimizer.apply_gradients(zip(g, vs))
        self.compiled_metrics.update_state(y, p)
        return {m.name: m.result() for m in self.metrics}

def make_model(size, grouped=False):
    return tuned_model(size, a.dropout, GroupModel if grouped else SAMModel if a.sam else keras.Model)
grouped = a.llrd != 1.0 or a.freeze_blocks > 0
model = make_model(S, grouped)
if head_w is not None: model.get_layer('classifier').set_weights(head_w)

steps = (n_train + a.bs - 1) // a.bs
total = steps * a.epochs
def make_opt(peak):
    if a.sched == 'cosine':
        wu = int(a.warmup * steps)
        lr = keras.optimizers.schedules.CosineDecay(peak * 0.01 if wu else peak, total - wu, alpha=0.0,
                                                    warmup_target=peak if wu else None, warmup_steps=wu)
    else: lr = peak
    if a.opt == 'adam':
        return keras.optimizers.AdamW(lr, weight_decay=a.wd) if a.wd else keras.optimizers.Adam(lr)
    return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
opt = make_opt(a.lr)
if grouped:
    by = {}
    for v in model.trainable_variables:
        b = block_of(v.name)
        if b < a.freeze_blocks: continue
        mult = a.llrd ** (19 - b)
        by.setdefault(round(mult, 6), []).append(v)
    model.groups = [(make_opt(a.lr * m), vs) for m, vs in sorted(by.items())]
    print('groups:', [(m, len(vs)) for m, vs in sorted(by.items())], flush=True)
if a.l2sp:                                                 # pull the backbone towards its pretrained weights, not zero
    sp_vars = [v for v in model.trainable_variables if block_of(v.name) < 19]
    sp_init = [tf.constant(v.numpy()) for v in sp_vars]
    print('L2-SP on', len(sp_vars), 'variables', flush=True)
    model.add_loss(lambda: a.l2sp * tf.add_n([tf.reduce_sum(tf.square(v - w)) for v, w in zip(sp_vars, sp_init)]))
loss = keras.losses.CategoricalCrossentropy(label_smoothing=a.ls)
model.compile(opt, loss, metrics=[keras.metrics.CategoricalAccuracy(name='acc')])

# ---- training pipeline
rotate = keras.layers.RandomRotation(a.rot / 360.0, fill_mode='reflect', seed=a.seed) if a.rot else None
def aug(x, y):
    img = resize_square(random_crop_box(tf.cast(x, tf.float32) / 255.0, (a.area, 1.0)), S)
    img = tf.image.random_flip_left_right(img)
    if a.vflip: img = tf.image.random_flip_up_down(img)
    if rotate is not None: img = rotate(img, training=True)
    if a.color:
        img = tf.image.random_brightness(img, a.color / 2)
        img = tf.image.random_contrast(img, 1 - a.color, 1 + a.color)
        img = tf.image.random_saturation(img, 1 - a.color, 1 + a.color)
    return tf.clip_by_value(img, 0.0, 1.0), tf.one_hot(y, 102)

def mix(x, y):
    b = tf.shape(x)[0]
    perm = tf.random.shuffle(tf.range(b))
    if a.mixup > 0 and (a.cutmix == 0 or tf.random.uniform(()) < 0.5):
        g1 = tf.random.gamma((), a.mixup); g2 = tf.random.gamma((), a.mixup); lam = g1 / (g1 + g2)
        return lam * x + (1 - lam) * tf.gather(x, perm), lam * y + (1 - lam) * tf.gather(y, perm)
    g1 = tf.random.gamma((), a.cutmix); g2 = tf.random.gamma((), a.cutmix); lam = g1 / (g1 + g2)
    cut = tf.sqrt(1.0 - lam); ch = tf.cast(cut * S, tf.int32)
    cy = tf.random.uniform((), 0, S, tf.int32); cx = tf.random.uniform((), 0, S, tf.int32)
    y0, y1 = tf.clip_by_value(cy - ch // 2, 0, S), tf.clip_by_value(cy + ch // 2, 0, S)
    x0, x1 = tf.clip_by_value(cx - ch // 2, 0, S), tf.clip_by_value(cx + ch // 2, 0, S)
    r = tf.range(S)
    my = tf.logical_and(r >= y0, r < y1); mx = tf.logical_and(r >= x0, r < x1)
    m = tf.cast(tf.logical_and(my[:, None], mx[None, :]), tf.float32)[None, :, :, None]
    lam = 1.0 - tf.cast((y1 - y0) * (x1 - x0), tf.float32) / float(S * S)
    return x * (1 - m) + tf.gather(x, perm) * m, lam * y + (1 - lam) * tf.gather(y, perm)

AUTO = tf.data.AUTOTUNE
if a.distill: soft = np.load(a.distill)['probs'].astype(np.float32)
if a.distill:
    tds = tf.data.Dataset.zip((train_ds, tf.data.Dataset.from_tensor_slices(soft)))
    tds = tds.shuffle(n_train, seed=a.seed, reshuffle_each_iteration=True)
    tds = tds.map(lambda xy, s: (aug(*xy)[0], a.distill_w * s + (1 - a.distill_w) * tf.one_hot(xy[1], 102)),
                  num_parallel_calls=AUTO)
else:
    tds = train_ds.shuffle(n_train, seed=a.seed, reshuffle_each_iteration=True).map(aug, num_parallel_calls=AUTO)
tds = tds.batch(a.bs)
if a.mixup > 0 or a.cutmix > 0: tds = tds.map(mix, num_parallel_calls=AUTO)
tds = tds.prefetch(AUTO)

val_ds = ds['validation'].cache()
curve = []
class ValCB(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if a.val_every and (epoch + 1) % a.val_every == 0 and a.train_on == 'train':
            p, y = predict_views(self.model, val_ds, S, VIEWS[:1], bs=128)
            curve.append((epoch + 1, round(top1(p[0], y), 4), round(float(logs.get('loss', 0)), 4)))
            print(f"  epoch {epoch+1}: val1 {curve[-1][1]:.4f} loss {curve[-1][2]:.3f} ({time.time()-t0:.0f}s)", flush=True)

cbs = [ValCB()]
ema_vars = None
if a.ema:
    class EMA(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.shadow = [tf.Variable(v) for v in self.model.trainable_variables]
        def on_train_batch_end(self, batch, logs=None):
            for s, v in zip(self.shadow, self.model.trainable_variables): s.assign(a.ema * s + (1 - a.ema) * v)
    ema_cb = EMA(); cbs.insert(0, ema_cb)

t1 = time.time()
model.fit(tds, epochs=a.epochs, callbacks=cbs, verbose=0)
t_ft = time.time() - t1
if a.ema:
    for s, v in zip(ema_cb.shadow, model.trainable_variables): v.assign(s)

res = dict(tag=tag, args=vars(a), t_lp=round(t_lp), t_ft=round(t_ft), curve=curve)
if a.train_on == 'train':
    pv, vy = predict_views(model, val_ds, S, VIEWS)
    res.update(**view_scores(pv, vy),
               val_nll=float(-np.log(np.clip(pv[0][np.arange(len(vy)), vy], 1e-12, 1)).mean()),
               val_top5=top5(pv[0], vy))
    np.savez_compressed(CACHE/f'valprobs-{tag}.npz', probs=pv.astype(np.float16), labels=vy)
    for es in [int(s) for s in a.eval_sizes.split(',') if s]:
        m2 = make_model(es); m2.set_weights(model.get_weights())
        pe, _ = predict_views(m2, val_ds, es, VIEWS)
        res[f'val1@{es}'] = top1(pe[0], vy); res[f'val_tta20@{es}'] = top1(pe.mean(0), vy)
        res[f'val_tta10@{es}'] = top1(pe[:10].mean(0), vy)
        np.savez_compressed(CACHE/f'valprobs-{tag}@{es}.npz', probs=pe.astype(np.float16), labels=vy)
if True:
    (CACHE/'runs').mkdir(exist_ok=True); model.save_weights(str(CACHE/'runs'/f'{tag}.weights.h5'))
res['t_total'] = round(time.time() - t0)
with open(EXP/'results.jsonl', 'a') as f: f.write(json.dumps(res) + '\n')
extra = ' '.join(f"{k}={v:.4f}" for k, v in res.items() if k.startswith('val') and '@' in k)
tta = ' '.join(f"{k}:{v:.4f}" for k, v in res.get('val_tta', {}).items())
log(f"{tag}: val1 {res.get('val1', float('nan')):.4f} nll {res.get('val_nll', float('nan')):.3f} tta {tta} {extra} "
    f"lp {t_lp:.0f}s ft {t_ft:.0f}s total {res['t_total']}s load {os.getloadavg()[0]:.1f}")
