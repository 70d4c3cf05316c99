// Redirect target of the smartgate demo app: completes the SMART launch
// (code exchange with PKCE, done by fhirclient) and shows the patient in
// context: name, conditions, medications and the latest observations.
// Every piece of server data is written with textContent, never as HTML.
(function () {
  'use strict';

  var STYLE_KEYS = {
    color_background: '--bg', color_error: '--error', color_highlight: '--highlight',
    color_modal_backdrop: '--backdrop', color_success: '--success', color_text: '--text',
    dim_border_radius: '--radius', dim_font_size: '--font-size', dim_spacing_size: '--space',
    font_family_body: '--font-body', font_family_heading: '--font-heading',
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function codeText(cc) {
    if (!cc) return '';
    if (cc.text) return cc.text;
    var codings = cc.coding || [];
    for (var i = 0; i < codings.length; i++) {
      if (codings[i].display) return codings[i].display;
    }
    return codings.length ? codings[0].code || '' : '';
  }

  function humanName(names) {
    if (!Array.isArray(names) || names.length === 0) return '';
    var n = names.find(function (x) { return x.use === 'official'; }) || names[0];
    if (n.text) return n.text;
    return [].concat(n.prefix || [], n.given || [], n.family || [], n.suffix || []).join(' ');
  }

  function day(s) { return typeof s === 'string' ? s.slice(0, 10) : ''; }

  function quantity(q) {
    if (!q || q.value === undefined) return '';
    var v = Math.round(q.value * 100) / 100;
    return v + (q.unit || q.code ? ' ' + (q.unit || q.code) : '');
  }

  function value(x) {
    if (x.valueQuantity) return quantity(x.valueQuantity);
    if (x.valueCodeableConcept) return codeText(x.valueCodeableConcept);
    if (x.valueString !== undefined) return x.valueString;
    if (x.valueBoolean !== undefined) return x.valueBoolean ? 'yes' : 'no';
    if (x.valueInteger !== undefined) return String(x.valueInteger);
    if (x.valueDateTime) return day(x.valueDateTime);
    if (Array.isArray(x.component)) {
      return x.component.map(function (c) { return codeText(c.code) + ' ' + value(c); }).join(', ');
    }
    return '';
  }

  // Fills a section's list; each row is [main text, detail text].
  function fill(id, rows, empty) {
    var section = $(id);
    var list = section.querySelector('ul');
    list.replaceChildren();
    if (rows.length === 0) {
      list.appendChild(el('li', 'empty', empty));
    }
    rows.forEach(function (r) {
      var li = el('li', 'item');
      li.appendChild(el('span', 'what', r[0]));
      if (r[1]) li.appendChild(el('span', 'meta', r[1]));
      list.appendChild(li);
    });
    section.hidden = false;
  }

  function fillError(id, err) {
    var section = $(id);
    var list = section.querySelector('ul');
    list.replaceChildren(el('li', 'error', 'Not available: ' + message(err)));
    section.hidden = false;
  }

  function message(err) {
    return String(err && err.message ? err.message : err);
  }

  function conditionRows(list) {
    return list.map(function (c) {
      var status = c.clinicalStatus ? codeText(c.clinicalStatus) : '';
      var since = day(c.onsetDateTime || c.recordedDate);
      return [codeText(c.code) || '(no code)', [status, since && 'since ' + since].filter(Boolean).join(' · ')];
    });
  }

  function medicationRows(list) {
    return list.map(function (m) {
      var what = codeText(m.medicationCodeableConcept) ||
        (m.medicationReference && m.medicationReference.display) || '(no medication)';
      return [what, [m.status, day(m.authoredOn)].filter(Boolean).join(' · ')];
    });
  }

  function observationRows(list) {
    return list.map(function (o) {
      var when = day(o.effectiveDateTime || (o.effectivePeriod && o.effectivePeriod.start) || o.issued);
      return [codeText(o.code) + (value(o) ? ': ' + value(o) : ''), when];
    });
  }

  function renderSession(client) {
    var dl = $('session').querySelector('dl');
    dl.replaceChildren();
    var tr = client.state.tokenResponse || {};
    [['Signed in as', client.getFhirUser() || '(unknown)'],
      ['FHIR server', client.state.serverUrl],
      ['Granted scopes', tr.scope || ''],
      ['Refresh token', tr.refresh_token ? 'yes (offline access)' : 'no']].forEach(function (f) {
      dl.appendChild(el('dt', '', f[0]));
      dl.appendChild(el('dd', '', f[1]));
    });
    $('session').hidden = false;
  }

  // SMART styling (context-style): apply the server's style document when
  // the token response names one on this origin; best effort.
  async function applyStyle(client) {
    var url = (client.state.tokenResponse || {}).smart_style_url;
    if (!url) return;
    var u = new URL(url, location.href);
    if (u.origin !== location.origin) return;
    var resp = await fetch(u.href, { credentials: 'omit' });
    if (!resp.ok) return;
    var style = await resp.json();
    Object.keys(STYLE_KEYS).forEach(function (k) {
      if (typeof style[k] === 'string' && style[k] !== '') {
        document.documentElement.style.setProperty(STYLE_KEYS[k], style[k]);
      }
    });
  }

  async function main() {
    if (!window.FHIR || !window.FHIR.oauth2) {
      throw new Error('the SMART client library (fhirclient) did not load');
    }
    var client = await window.FHIR.oauth2.ready();
    applyStyle(client).catch(function () { /* styling is optional */ });
    renderSession(client);
    var pid = client.patient.id;
    if (!pid) {
      throw new Error('no patient in the launch context (was launch/patient granted?)');
    }
    $('status').textContent = 'Loading the record…';
    var p = encodeURIComponent(pid);
    var flat = { flat: true, pageLimit: 1 };
    var results = await Promise.allSettled([
      client.request('Patient/' + p),
      client.request('Condition?patient=' + p + '&_count=50', flat),
      client.request('MedicationRequest?patient=' + p + '&_count=50', flat),
      client.request('Observation?patient=' + p + '&_sort=-date&_count=10', flat),
    ]);

    var patient = results[0];
    if (patient.status === 'fulfilled') {
      var pt = patient.value;
      $('patient-name').textContent = humanName(pt.name) || 'Patient ' + pid;
      $('patient-meta').textContent = [pt.gender, pt.birthDate && 'born ' + pt.birthDate, 'id ' + pid]
        .filter(Boolean).join(' · ');
    } else {
      $('patient-name').textContent = 'Patient ' + pid;
      $('patient-meta').textContent = 'Not available: ' + message(patient.reason);
    }
    [['conditions', conditionRows, 'No conditions recorded.'],
      ['medications', medicationRows, 'No medications recorded.'],
      ['observations', observationRows, 'No observations recorded.']].forEach(function (s, i) {
      var r = results[i + 1];
      if (r.status === 'fulfilled') {
        fill(s[0], s[1](r.value || []), s[2]);
      } else {
        fillError(s[0], r.reason);
      }
    });
    $('status').textContent = 'Loaded.';
  }

  main().catch(function (err) {
    $('status').textContent = 'Something went wrong.';
    var e = $('error');
    e.textContent = message(err);
    e.hidden = false;
  });
})();
