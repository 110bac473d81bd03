// Draws the report page of `sluice report` from the JSON in #report-data: charts
// through uPlot, tables and image grids as plain HTML. Each chart's element gets
// data-series (the series drawn) and data-points (the x values) once drawn, and
// #report gets data-rendered="1" at the end, for tests and for people reading the DOM.
(function () {
  'use strict';

  var data = JSON.parse(document.getElementById('report-data').textContent);
  var root = document.getElementById('report');
  var runs = data.runs || [];
  var kColors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2',
                 '#17becf', '#7f7f7f', '#bcbd22'];
  var kChartWidth = 540;
  var kChartHeight = 280;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || (typeof v === 'number' && !isFinite(v))) return 'n/a';
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v)) return String(v);
    return v.toFixed(digits === undefined ? 4 : digits);
  }

  function pct(v) { return v === null || v === undefined ? 'n/a' : (100 * v).toFixed(1) + '%'; }

  function table(head, rows, cls) {
    return el('table', cls ? {class: cls} : {}, [
      el('thead', {}, [el('tr', {}, head.map(function (h) { return el('th', {text: h}); }))]),
      el('tbody', {}, rows.map(function (r) {
        return el('tr', {}, r.map(function (c) {
          return c instanceof Node ? el('td', {}, [c]) : el('td', {text: String(c)});
        }));
      }))
    ]);
  }

  function section(title, id) {
    var s = el('section', {id: id}, [el('h2', {text: title})]);
    root.appendChild(s);
    return s;
  }

  function note(parent, text) { parent.appendChild(el('p', {class: 'note', text: text})); }

  function runColor(i) { return kColors[i % kColors.length]; }

  // Vertical lines at given x values (best epoch, early stop), drawn on the canvas.
  function markers(marks) {
    return {hooks: {draw: [function (u) {
      var ctx = u.ctx, dpr = window.devicePixelRatio || 1;
      marks.forEach(function (m) {
        var x = Math.round(u.valToPos(m.x, 'x', true));
        ctx.save();
        ctx.strokeStyle = m.color;
        ctx.lineWidth = 1.5 * dpr;
        ctx.setLineDash(m.dash.map(function (d) { return d * dpr; }));
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillStyle = m.color;
        ctx.font = (11 * dpr) + 'px sans-serif';
        ctx.fillText(m.label, x + 4 * dpr, u.bbox.top + (12 + 12 * (m.row || 0)) * dpr);
        ctx.restore();
      });
    }]}};
  }

  // A uPlot line chart. series: [{label, values, color, dash}], aligned with xs.
  function chart(parent, id, title, xs, series, opts) {
    opts = opts || {};
    var box = el('div', {class: 'chart', id: id}, [el('h3', {text: title})]);
    parent.appendChild(box);
    var size = opts.size || {};
    var uopts = {
      width: size.width || kChartWidth,
      height: size.height || kChartHeight,
      scales: {x: Object.assign({time: false}, opts.xScale || {}), y: opts.yScale || {}},
      axes: [Object.assign({label: opts.xLabel || ''}, opts.xAxis || {}), {label: opts.yLabel || ''}],
      series: [{label: opts.xLabel || 'x'}].concat(series.map(function (s) {
        return {label: s.label, stroke: s.color, width: s.width || 2, dash: s.dash,
                spanGaps: true, points: {show: xs.length <= 60}};
      })),
      plugins: opts.marks ? [markers(opts.marks)] : []
    };
    new uPlot(uopts, [xs].concat(series.map(function (s) { return s.values; })), box);
    box.setAttribute('data-series', String(series.length));
    box.setAttribute('data-points', String(xs.length));
    return box;
  }

  // Scores live in [0, 1]: pad the data's range without leaving it.
  function unitRange(u, min, max) {
    if (min === null || max === null) return [0, 1];
    var pad = Math.max(0.02, (max - min) * 0.1);
    return [Math.max(0, min - pad), Math.min(1, max + pad)];
  }

  function hasValues(values) {
    return values && values.some(function (v) { return v !== null && v !== undefined; });
  }

  // ---- header -------------------------------------------------------------
  function drawHeader() {
    root.appendChild(el('h1', {text: data.title || 'sluice report'}));
    root.appendChild(el('p', {class: 'generated', text: 'generated ' + (data.generated || '')}));
    var rows = runs.map(function (r, i) {
      var swatch = el('span', {class: 'swatch', style: 'background:' + runColor(i)});
      var epochs = r.metrics ? r.metrics.values.epoch || [] : [];
      return [el('span', {}, [swatch, r.name]), r.dir, String(epochs.length)];
    });
    root.appendChild(table(['run', 'folder', 'epochs'], rows, 'runs'));
  }

  // ---- learning curves ------------------------------------------------------
  function epochAxis() {
    var set = {};
    runs.forEach(function (r) {
      if (r.metrics && r.metrics.values.epoch) {
        r.metrics.values.epoch.forEach(function (e) { if (e !== null) set[e] = true; });
      }
    });
    return Object.keys(set).map(Number).sort(function (a, b) { return a - b; });
  }

  function aligned(run, column, xs) {
    var byEpoch = {};
    var v = run.metrics.values;
    (v.epoch || []).forEach(function (e, i) { byEpoch[e] = v[column][i]; });
    return xs.map(function (x) { return byEpoch[x] === undefined ? null : byEpoch[x]; });
  }

  function stoppingMarks() {
    var marks = [];
    runs.forEach(function (r, i) {
      var es = r.early_stopping;
      if (!es) return;
      var prefix = runs.length > 1 ? r.name + ': ' : '';
      if (es.best_epoch !== undefined) {
        marks.push({x: es.best_epoch, color: runColor(i), dash: [2, 3], row: 2 * i,
                    label: prefix + 'best ' + es.best_epoch});
      }
      if (es.stopped_epoch !== undefined) {
        marks.push({x: es.stopped_epoch, color: runColor(i), dash: [8, 4], row: 2 * i + 1,
                    label: prefix + 'stopped ' + es.stopped_epoch});
      }
    });
    return marks;
  }

  function drawCurves() {
    var s = section('Learning curves', 'curves');
    var withMetrics = runs.filter(function (r) { return r.metrics; });
    if (!withMetrics.length) { note(s, 'No run has per-epoch metrics (metrics.jsonl or metrics.csv).'); return; }
    var xs = epochAxis();
    var marks = stoppingMarks();
    var summary = el('ul', {class: 'stopping'});
    runs.forEach(function (r) {
      var es = r.early_stopping;
      if (!es) return;
      var text = r.name + ': monitor ' + es.metric + ' (' + (es.minimize ? 'min' : 'max') + ')';
      if (es.best_epoch !== undefined) text += ', best epoch ' + es.best_epoch + ' (' + fmt(es.best) + ')';
      text += es.stopped_epoch !== undefined
          ? ', early stop after epoch ' + es.stopped_epoch + ' (patience ' + es.patience + ')'
          : ', no early stop';
      summary.appendChild(el('li', {text: text}));
    });
    if (summary.children.length) s.appendChild(summary);
    var grid = el('div', {class: 'charts'});
    s.appendChild(grid);
    var specs = [
      {id: 'chart-loss', title: 'Loss', train: ['loss'], val: ['val_loss']},
      {id: 'chart-accuracy', title: 'Accuracy', train: ['accuracy'], val: ['val_accuracy'], unit: true},
      {id: 'chart-auc', title: 'ROC AUC', train: ['auc'], val: ['val_auc'], unit: true},
      {id: 'chart-lr', title: 'Learning rate', train: ['lr', 'learning_rate'], val: []}
    ];
    specs.forEach(function (spec) {
      var series = [];
      withMetrics.forEach(function (r) {
        var i = runs.indexOf(r);
        var prefix = runs.length > 1 ? r.name + ' ' : '';
        [[spec.train, undefined, 'train '], [spec.val, [6, 4], '']].forEach(function (kind) {
          kind[0].forEach(function (col) {
            if (!hasValues(r.metrics.values[col])) return;
            series.push({label: prefix + (col.indexOf('val_') === 0 ? col : kind[2] + col),
                         values: aligned(r, col, xs), color: runColor(i), dash: kind[1]});
          });
        });
      });
      if (!series.length) {
        note(grid, spec.title + ': not in the metrics files.');
        return;
      }
      chart(grid, spec.id, spec.title, xs, series, {
        xLabel: 'epoch', marks: marks,
        xAxis: {incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]},
        yScale: spec.unit ? {range: unitRange} : undefined
      });
    });
  }

  // ---- evaluation -------------------------------------------------------------
  // eval.json of each label kind (eval.classifier): binary (2 x 2 confusion matrix,
  // ROC curve, threshold), categorical (N x N confusion matrix of the classes,
  // per-class scores, top-5), multi-label (per-attribute scores and ROC curves).
  function ratio(a, b) { return b ? a / b : null; }
  function harmonic(p, q) { return p !== null && q !== null && p + q > 0 ? 2 * p * q / (p + q) : null; }
  function isNumber(v) { return typeof v === 'number' && isFinite(v); }

  function rocChart(parent, id, title, name, roc, color, size) {
    return chart(parent, id, title, roc.fpr,
        [{label: name, values: roc.tpr, color: color},
         {label: 'chance', values: roc.fpr, color: '#999', dash: [4, 4], width: 1}],
        {xLabel: 'false positive rate', yLabel: 'true positive rate',
         xScale: {range: [0, 1]}, yScale: {range: [0, 1]}, size: size});
  }

  function drawWrong(box, r, i, caption) {
    if (!r.wrong) return;
    box.appendChild(el('h4', {text: 'Most confidently wrong (' + r.wrong.length + ')'}));
    if (!r.wrong.length) note(box, 'No wrongly classified image.');
    box.appendChild(imageGrid('wrong-' + i, r.wrong.map(function (w) {
      return {image: w.image, lines: [w.id].concat(caption(w)), title: w.path};
    })));
  }

  function drawBinary(box, r, i) {
    var e = r.eval, c = e.confusion;
    var pos = e.positive_name || 'positive', neg = e.negative_name || 'negative';
    box.appendChild(table(['samples', 'loss', 'accuracy', 'precision', 'recall', 'F1', 'ROC AUC', 'threshold'],
        [[e.count, fmt(e.loss), fmt(e.accuracy), fmt(e.precision), fmt(e.recall), fmt(e.f1),
          fmt(e.roc_auc), fmt(e.threshold === undefined ? 0.5 : e.threshold)]], 'scores'));
    var row = el('div', {class: 'row'});
    box.appendChild(row);
    row.appendChild(el('div', {}, [el('h4', {text: 'Confusion matrix (rows: true, columns: predicted)'}),
        table(['', neg, pos], [[neg, c.tn, c.fp], [pos, c.fn, c.tp]], 'confusion')]));
    var pp = ratio(c.tp, c.tp + c.fp), pr = ratio(c.tp, c.tp + c.fn);
    var np = ratio(c.tn, c.tn + c.fn), nr = ratio(c.tn, c.tn + c.fp);
    row.appendChild(el('div', {}, [el('h4', {text: 'Per class'}),
        table(['class', 'support', 'precision', 'recall', 'F1'],
              [[neg, c.tn + c.fp, fmt(np), fmt(nr), fmt(harmonic(np, nr))],
               [pos, c.tp + c.fn, fmt(pp), fmt(pr), fmt(harmonic(pp, pr))]], 'per-class')]));
    var attrs = Object.keys(e.attributes || {});
    if (attrs.length) {
      box.appendChild(el('h4', {text: 'Accuracy by attribute'}));
      box.appendChild(table(['attribute', 'with: images', 'with: accuracy', 'without: images', 'without: accuracy'],
          attrs.map(function (a) {
            var v = e.attributes[a];
            return [a, v.positive.count, fmt(v.positive.accuracy), v.negative.count, fmt(v.negative.accuracy)];
          }), 'attributes'));
    }
    if (r.roc) {
      var charts = el('div', {class: 'charts'});
      box.appendChild(charts);
      rocChart(charts, 'chart-roc-' + i, 'ROC curve (AUC ' + fmt(e.roc_auc) + ')', r.name, r.roc, runColor(i));
    }
    drawWrong(box, r, i, function (w) {
      return ['true: ' + (w.label === 1 ? pos : neg), 'P(' + pos + ') ' + fmt(w.score, 3)];
    });
  }

  // Cells shaded by their share of the row (the true class's images).
  function confusionMatrix(names, rows) {
    var t = table(['true \u2193 / predicted \u2192'].concat(names), rows.map(function (row, k) {
      return [names[k]].concat(row.map(function (v) { return String(v); }));
    }), 'confusion');
    rows.forEach(function (row, k) {
      var total = row.reduce(function (a, b) { return a + b; }, 0);
      row.forEach(function (v, p) {
        var cell = t.tBodies[0].rows[k].cells[p + 1];
        if (p === k) cell.className = 'diagonal';
        if (total > 0 && v > 0) cell.style.background = 'rgba(31, 119, 180, ' + (0.08 + 0.5 * v / total).toFixed(3) + ')';
      });
    });
    return t;
  }

  function drawCategorical(box, r, i) {
    var e = r.eval, names = e.confusion.classes;
    var head = ['samples', 'loss', 'top-1 accuracy'];
    var values = [e.count, fmt(e.loss), fmt(e.top1 === undefined ? e.accuracy : e.top1)];
    // Top-5 says something only with more than five classes (else it is always 1).
    if (isNumber(e.top5) && names.length > 5) { head.push('top-5 accuracy'); values.push(fmt(e.top5)); }
    head = head.concat(['precision (mean over classes)', 'recall (mean)', 'F1 (mean)']);
    values = values.concat([fmt(e.precision), fmt(e.recall), fmt(e.f1)]);
    box.appendChild(table(head, [values], 'scores'));
    var row = el('div', {class: 'row'});
    box.appendChild(row);
    row.appendChild(el('div', {}, [el('h4', {text: 'Confusion matrix (rows: true, columns: predicted)'}),
        confusionMatrix(names, e.confusion.rows)]));
    row.appendChild(el('div', {}, [el('h4', {text: 'Per class'}),
        table(['class', 'support', 'precision', 'recall', 'F1'], (e.classes || []).map(function (c) {
          return [c['class'], c.support, fmt(c.precision), fmt(c.recall), fmt(c.f1)];
        }), 'per-class')]));
    drawWrong(box, r, i, function (w) {
      return ['true: ' + w.label, 'predicted: ' + w.predicted,
              'P(' + w.predicted + ') ' + fmt(w.score, 3)];
    });
  }

  function drawMultiLabel(box, r, i) {
    var e = r.eval, attrs = e.attributes;
    box.appendChild(table(['samples', 'loss', 'accuracy (mean over attributes)', 'precision (mean)',
                           'recall (mean)', 'F1 (mean)', 'ROC AUC (mean)', 'threshold'],
        [[e.count, fmt(e.loss), fmt(e.accuracy), fmt(e.precision), fmt(e.recall), fmt(e.f1),
          fmt(e.roc_auc), fmt(e.threshold === undefined ? 0.5 : e.threshold)]], 'scores'));
    box.appendChild(el('h4', {text: 'Per attribute'}));
    box.appendChild(table(['attribute', 'images with it', 'accuracy', 'precision', 'recall', 'F1', 'ROC AUC'],
        attrs.map(function (a) {
          return [a.attribute, a.positives, fmt(a.accuracy), fmt(a.precision), fmt(a.recall), fmt(a.f1),
                  fmt(a.roc_auc)];
        }), 'per-attribute'));
    if (r.roc_attributes && r.roc_attributes.length) {
      var charts = el('div', {class: 'charts'});
      box.appendChild(charts);
      r.roc_attributes.forEach(function (roc, k) {
        var index = attrs.map(function (a) { return a.attribute; }).indexOf(roc.attribute);
        var auc = index >= 0 ? attrs[index].roc_auc : null;
        rocChart(charts, 'chart-roc-' + i + '-' + k, 'ROC: ' + roc.attribute + ' (AUC ' + fmt(auc) + ')',
                 roc.attribute, roc, kColors[k % kColors.length], {width: 300, height: 220});
      });
    }
    drawWrong(box, r, i, function (w) {
      return [w.attribute + ': ' + (w.label === 1 ? 'has it' : 'has not'),
              'P(' + w.attribute + ') ' + fmt(w.score, 3)];
    });
  }

  function evalKind(e) { return e.kind || 'binary'; }

  function drawEvaluation() {
    var s = section('Evaluation', 'evaluation');
    var any = false;
    runs.forEach(function (r, i) {
      if (!r.eval) return;
      any = true;
      var e = r.eval, kind = evalKind(e);
      var what = kind === 'categorical' ? ', categorical label of ' + e.confusion.classes.length + ' classes'
          : kind === 'multi-label' ? ', multi-label of ' + e.attributes.length + ' attributes' : '';
      var box = el('div', {class: 'run-eval', id: 'eval-' + i, 'data-kind': kind},
                   [el('h3', {text: r.name + ' on split ' + (e.split || 'all') + what})]);
      s.appendChild(box);
      if (kind === 'categorical') drawCategorical(box, r, i);
      else if (kind === 'multi-label') drawMultiLabel(box, r, i);
      else drawBinary(box, r, i);
    });
    if (!any) note(s, 'No evaluation: run eval.classifier with report = "RUN_DIR/eval.json" to have one.');
  }

  function imageGrid(id, items) {
    return el('div', {class: 'grid', id: id, 'data-images': String(items.length)}, items.map(function (it) {
      var img = it.image ? el('img', {src: it.image, alt: it.lines[0]})
                         : el('div', {class: 'missing', text: 'image not readable'});  // named on stderr
      return el('figure', it.title ? {title: it.title} : {}, [img, el('figcaption', {},
          it.lines.map(function (l) { return el('div', {text: l}); }))]);
    }));
  }

  // ---- samples ------------------------------------------------------------------
  // A sample's label by name where the run's evaluation names the classes or attributes.
  function sampleLabel(r, im) {
    var e = r.eval || {};
    if (im.label_values) {
      var attrs = evalKind(e) === 'multi-label' ? e.attributes.map(function (a) { return a.attribute; }) : null;
      if (!attrs || attrs.length !== im.label_values.length) return 'labels ' + im.label_values.join('');
      var on = attrs.filter(function (a, k) { return im.label_values[k]; });
      return on.length ? on.join(', ') : 'none of ' + attrs.length;
    }
    if (evalKind(e) === 'categorical' && e.confusion.classes[im.label] !== undefined) {
      return e.confusion.classes[im.label];
    }
    if (evalKind(e) === 'binary' && e.positive_name && (im.label === 0 || im.label === 1)) {
      return im.label === 1 ? e.positive_name : e.negative_name;
    }
    return 'label ' + im.label;
  }

  function drawSamples() {
    var s = section('Augmented training samples', 'samples');
    var any = false;
    runs.forEach(function (r, i) {
      if (!r.samples) return;
      any = true;
      s.appendChild(el('h3', {text: r.name + ': the first ' + r.samples.images.length +
          ' images out of stage \'' + r.samples.stage + '\' (same seed and transforms as the run)'}));
      s.appendChild(imageGrid('samples-' + i, r.samples.images.map(function (im) {
        return {image: im.image, lines: [im.id, im.split + ', ' + sampleLabel(r, im)]};
      })));
    });
    if (!any) note(s, 'No samples: they are rendered from the run\'s config.toml and dataset.');
  }

  // ---- profile -------------------------------------------------------------------
  function drawTimeline(parent, r, i) {
    var tl = r.profile.timeline;
    if (!tl || !tl.t_s || !tl.stages) {
      note(parent, 'Throughput over time: this profile has no timeline (a profiler that samples ' +
           'per-stage counters over time writes one).');
      return;
    }
    var t = tl.t_s;
    var ids = Object.keys(tl.stages);
    var series = ids.map(function (id, k) {
      var items = tl.stages[id].items_out || [];
      return {label: id, color: kColors[k % kColors.length], values: t.map(function (ts, j) {
        var dt = j ? ts - t[j - 1] : ts;
        var dn = j ? items[j] - items[j - 1] : items[j];
        return dt > 0 && dn !== undefined ? dn / dt : null;
      })};
    });
    chart(parent, 'chart-timeline-' + i, 'Items out per second, per stage', t, series,
          {xLabel: 'seconds', yLabel: 'items/s'});
  }

  function drawProfile() {
    var s = section('Per-stage profile', 'profile');
    var any = false;
    runs.forEach(function (r, i) {
      if (!r.profile) return;
      any = true;
      var p = r.profile;
      s.appendChild(el('h3', {text: r.name + ': ' + (p.pipeline || '') + ', ' + (p.status || '') + ' in ' +
          fmt(p.wall_s, 2) + ' s, ' + p.threads + ' thread(s), in flight <= ' + p.max_in_flight +
          ' (peak ' + p.peak_in_flight + ')'}));
      var rows = p.stages.map(function (st) {
        var lat = st.latency_us || {};
        return [st.id, st.type, st.concurrency, st.items_in, st.items_out, fmt(st.items_per_s, 1),
                fmt(st.busy_s, 3), pct(st.utilisation), fmt(st.wait_s, 3), fmt(lat.p50, 0),
                fmt(lat.p95, 0), st.bottleneck ? 'bottleneck' : ''];
      });
      var t = table(['stage', 'type', 'concurrency', 'in', 'out', 'items/s', 'busy s', 'utilisation',
                     'wait s (summed over items)', 'p50 µs', 'p95 µs', ''], rows, 'profile');
      t.id = 'profile-' + i;
      p.stages.forEach(function (st, k) {
        if (st.bottleneck) t.tBodies[0].rows[k].className = 'bottleneck';
      });
      s.appendChild(t);
      drawTimeline(s, r, i);
    });
    if (!any) note(s, 'No profile: `sluice run` writes profile.json into the run folder.');
  }

  // ---- config and notes -----------------------------------------------------------------
  function drawConfig() {
    var s = section('Resolved config', 'config');
    runs.forEach(function (r) {
      if (r.config === undefined) return;
      s.appendChild(el('details', runs.length === 1 ? {open: ''} : {}, [
        el('summary', {text: r.dir + '/config.toml'}), el('pre', {text: r.config})]));
    });
  }

  function drawNotes() {
    var items = [];
    runs.forEach(function (r) {
      (r.notes || []).forEach(function (n) { items.push(el('li', {text: r.name + ': ' + n})); });
    });
    if (!items.length) return;
    var s = section('What this report could not show', 'notes');
    s.appendChild(el('ul', {}, items));
  }

  drawHeader();
  drawCurves();
  drawEvaluation();
  drawSamples();
  drawProfile();
  drawConfig();
  drawNotes();
  root.setAttribute('data-rendered', '1');
})();
