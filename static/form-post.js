/* The form_post response page (templates/oauth/form_post.html): send the answer to the app at once.
 *
 * A static file because the CSP allows no inline script. Without it, the page's Continue button
 * posts the same form.
 */
"use strict";

(function () {
  const form = document.getElementById("form-post");
  if (form) form.submit();
})();
