// clip-cdn's image fallback without inline handlers, for pages with a strict
// Content-Security-Policy (script-src 'self'): when an image from the CDN fails, load it
// from the origin URL in its data-fallback-src attribute (written by Cdn::image().to_html()).
// Serve this file from your origin and include it in <head>, before the images.
(function () {
  function fallBack(img) {
    var origin = img.getAttribute('data-fallback-src');
    if (!origin || img.getAttribute('data-fallback-done')) return;
    img.setAttribute('data-fallback-done', '1');
    var parent = img.parentNode;
    if (parent && parent.tagName === 'PICTURE') {
      parent.querySelectorAll('source').forEach(function (s) { s.remove(); });
    }
    img.removeAttribute('srcset');
    img.src = origin;
  }
  // Error events do not bubble; listening while they go down (capture) sees every image.
  document.addEventListener('error', function (e) {
    if (e.target && e.target.tagName === 'IMG') fallBack(e.target);
  }, true);
  // Images that failed before this script ran (it was deferred or loaded late).
  function sweep() {
    document.querySelectorAll('img[data-fallback-src]').forEach(function (img) {
      if (img.complete && img.naturalWidth === 0 && img.getAttribute('src')) fallBack(img);
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', sweep);
  } else {
    sweep();
  }
})();
